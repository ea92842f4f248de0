package store

import (
	"fmt"

	"github.com/klauspost/compress/s2"
)

// Inbox body codecs, as stored in webhook_inbox.body_codec.
const (
	codecRaw = ""   // the body as received
	codecS2  = "s2" // S2 block format
)

// packMin is the smallest body worth compressing: below it the saving is
// a few bytes of a page.
const packMin = 512

// Pack compresses d's body for storage, once; InsertDeliveries packs what
// its caller did not. Callers on many goroutines (the receiver's handlers)
// pack before submitting, so the single writer does not have to.
func (d *Delivery) Pack() {
	if d.packed {
		return
	}
	d.packed = true
	d.stored, d.codec = d.Body, codecRaw
	if len(d.Body) < packMin {
		return
	}
	if c := s2.Encode(nil, d.Body); len(c) < len(d.Body)*9/10 {
		d.stored, d.codec = c, codecS2
	}
}

// unpack returns a stored body as received.
func unpack(stored []byte, codec string) ([]byte, error) {
	switch codec {
	case codecRaw:
		return stored, nil
	case codecS2:
		b, err := s2.Decode(nil, stored)
		if err != nil {
			return nil, fmt.Errorf("store: stored webhook body is corrupt: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("store: stored webhook body has an unknown encoding %q", codec)
}
