package store

import "strconv"

// ParseID reads a row id from text that came from outside (a URL path
// segment): a positive decimal integer. Anything else names no row, so it
// is ErrNotFound — not a malformed request — exactly like an id of a row
// that does not exist or belongs to another organisation.
func ParseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, ErrNotFound
	}
	return id, nil
}
