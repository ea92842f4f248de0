package ingest

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParseHook measures decoding the official Go client's merge
// request event, the payload labsync bench webhooks sends.
func BenchmarkParseHook(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("..", "bench", "testdata", "merge_request.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseHook("merge_request", body); err != nil {
			b.Fatal(err)
		}
	}
}
