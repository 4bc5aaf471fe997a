package model

import "testing"

func TestNomadAtLeast(t *testing.T) {
	for v, want := range map[string]bool{
		"1.10.3": true, "1.10.5": true, "1.11.0": true, "2.0.0": true, "1.10.3-beta.1": true,
		"1.10.2": false, "1.9.9": false, "0.99.99": false, "1.10": false, "x.y.z": false,
	} {
		if got := NomadAtLeast(v, [3]int{1, 10, 3}); got != want {
			t.Errorf("NomadAtLeast(%q, 1.10.3) = %v, want %v", v, got, want)
		}
	}
}
