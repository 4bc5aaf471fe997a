package bundle

import "os"

// exchangeByRenames swaps the directories a and b with renames; unlike
// Linux's RENAME_EXCHANGE, b is missing for a moment between them. If the
// second rename fails, b is put back.
func exchangeByRenames(a, b string) error {
	aside := a + ".old"
	if err := os.Rename(b, aside); err != nil {
		return err
	}
	if err := os.Rename(a, b); err != nil {
		_ = os.Rename(aside, b)
		return err
	}
	return os.Rename(aside, a)
}
