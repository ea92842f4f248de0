package store

import (
	"errors"
	"testing"
)

func TestParseIDAcceptsOnlyPositiveDecimalIntegers(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{{"1", 1}, {"9007199254740993", 9007199254740993}, {"0", 0}, {"-4", 0}, {"", 0}, {"12a", 0}, {"0x10", 0}, {" 7", 0}, {"99999999999999999999", 0}} {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseID(c.in)
			if c.want == 0 {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("ParseID(%q) = %d, %v; want ErrNotFound", c.in, got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ParseID(%q) = %d, %v; want %d", c.in, got, err, c.want)
			}
		})
	}
}
