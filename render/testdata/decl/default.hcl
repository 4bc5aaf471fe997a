# The empty declaration: defaults only, policies inlined.
