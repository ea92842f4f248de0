package accounts

import (
	"errors"
	"strings"
	"testing"
)

func TestPasswordHashRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "correct") || !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("hash %q", h)
	}
	if err := VerifyPassword(h, "correct horse"); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if err := VerifyPassword(h, "wrong horse"); !errors.Is(err, ErrPasswordMismatch) {
		t.Fatalf("wrong password: %v", err)
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
}

func TestVerifyPasswordRejectsMalformedHashes(t *testing.T) {
	for name, h := range map[string]string{
		"empty":        "",
		"bcrypt":       "$2a$10$abcdefghijklmnopqrstuv",
		"huge memory":  "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"short salt":   "$argon2id$v=19$m=65536,t=3,p=2$YQ$aGFzaGhhc2hoYXNoaGFzaA",
		"not base64":   "$argon2id$v=19$m=65536,t=3,p=2$!!!$!!!",
		"missing part": "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ",
	} {
		t.Run(name, func(t *testing.T) {
			if err := VerifyPassword(h, "x"); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestAPITokenShapeAndHash(t *testing.T) {
	tok, prefix, hash, err := NewAPIToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, APITokenPrefix) || len(tok) < 40 || !strings.HasPrefix(tok, prefix) || len(prefix) >= len(tok)/2 {
		t.Fatalf("token %d chars, prefix %q", len(tok), prefix)
	}
	if string(HashAPIToken(tok)) != string(hash) || string(HashAPIToken(" "+tok+"\n")) != string(hash) {
		t.Fatal("hash is not stable")
	}
	tok2, _, _, _ := NewAPIToken()
	if tok == tok2 {
		t.Fatal("two tokens are equal")
	}
}
