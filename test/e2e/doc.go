// Package e2e proves the plugin against a real Debian 12 system: a real
// `packer build` provisions a systemd-nspawn container over SSH, and the tests
// check the result from outside. The tests carry the `e2e` build tag, so
// `go test ./...` leaves them out; run them as root with
//
//	go test -tags e2e -v -timeout 40m ./test/e2e
//
// The target itself is managed by the scripts in target/ (usable by hand).
package e2e
