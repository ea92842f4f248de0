package vault

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// maxKEKFile bounds how much of a key file is read: a base64 key and a
// newline are 45 bytes.
const maxKEKFile = 4096

// LoadOrCreateDevKEK returns the development KEK kept in the file at path,
// creating the file with a new random key if it does not exist (created is
// then true). It is for running without LABSYNC_KEK; the caller should warn
// loudly when it is used.
//
// The file holds the key's base64 encoding and a newline. It is created with
// mode 0600 atomically: written in full to a temporary file in the same
// directory, then hard-linked into place, which fails rather than replace a
// file another process created first; the loser of such a race uses the
// winner's key. A file that group or others can access is refused with an
// error saying to run chmod 600 on it.
func LoadOrCreateDevKEK(path string) (kek *LocalKEK, created bool, err error) {
	kek, err = loadDevKEK(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return kek, false, err
	}
	created, err = createDevKEK(path)
	if err != nil {
		return nil, false, err
	}
	kek, err = loadDevKEK(path)
	if err != nil {
		return nil, false, err
	}
	return kek, created, nil
}

// loadDevKEK reads the key file at path. Its error wraps fs.ErrNotExist if
// the file does not exist.
func loadDevKEK(path string) (*LocalKEK, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vault: development KEK file: %w", err)
	}
	defer f.Close()
	// Check the mode of the file we opened, not of whatever is at path now.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vault: development KEK file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("vault: development KEK file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("vault: development KEK file %s is accessible to group or others (mode %04o); "+
			"run: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKEKFile+1))
	if err != nil {
		return nil, fmt.Errorf("vault: development KEK file %s: %w", path, err)
	}
	defer clear(b)
	if len(b) > maxKEKFile {
		return nil, fmt.Errorf("vault: development KEK file %s is larger than %d bytes; it must hold only a base64 key", path, maxKEKFile)
	}
	key, err := decodeKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("vault: development KEK file %s %w", path, err)
	}
	defer clear(key)
	return NewLocalKEK(key)
}

// createDevKEK writes a new random key to path unless a file is already
// there. It reports whether it created the file.
func createDevKEK(path string) (bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("vault: create development KEK: %w", err)
	}
	_, b64, err := GenerateKEK()
	if err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(dir, ".labsync-kek-*.tmp") // mode 0600, O_EXCL
	if err != nil {
		return false, fmt.Errorf("vault: create development KEK: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.WriteString(tmp, b64+"\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("vault: create development KEK: %w", err)
	}
	// A hard link appears atomically and, unlike rename, never replaces an
	// existing file.
	err = os.Link(tmp.Name(), path)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return false, nil // another process won; use its key
	default:
		// The file system may not support hard links. O_EXCL still keeps
		// two processes from clobbering each other.
		if err := writeExclusive(path, b64+"\n"); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return false, nil
			}
			return false, fmt.Errorf("vault: create development KEK: %w", err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new directory entry durable; best effort
		d.Close()
	}
	return true, nil
}

// writeExclusive creates path with mode 0600, failing if it exists, and
// writes s to it.
func writeExclusive(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, s)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
