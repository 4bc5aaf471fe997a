package model

import (
	"fmt"
	"reflect"
	"strings"
	"unicode"
)

// controlChars reports every string of the declaration that holds a control
// character (NUL, newline, carriage return, escape, DEL, C1), whatever the
// attribute: these strings end up in HCL, shell scripts, agent
// configurations, URLs and object names, and no legitimate value needs one.
// Attribute-specific alphabets are checked by the validators of each
// attribute. A field tagged text:"multiline" may hold newlines.
func controlChars(ps *Problems, prefix string, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			controlChars(ps, prefix, v.Elem())
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			p := prefix
			if name != "" {
				p = joinPath(prefix, name)
			}
			if f.Tag.Get("text") == "multiline" && f.Type.Kind() == reflect.String {
				// An ASCII-armored key is lines of text: newlines only.
				if r, ok := firstControl(strings.ReplaceAll(v.Field(i).String(), "\n", "")); ok {
					ps.add(p, "%q holds the control character %U; remove it (only newlines belong here)", v.Field(i).String(), r)
				}
				continue
			}
			controlChars(ps, p, v.Field(i))
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			controlChars(ps, fmt.Sprintf("%s[%d]", prefix, i), v.Index(i))
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			controlChars(ps, joinPath(prefix, fmt.Sprint(iter.Key().Interface())), iter.Value())
		}
	case reflect.String:
		if r, ok := firstControl(v.String()); ok {
			ps.add(prefix, "%q holds the control character %U; remove it (no value here needs one)", v.String(), r)
		}
	}
}

func joinPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func firstControl(s string) (rune, bool) {
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return r, true
		}
	}
	return 0, false
}
