//go:build !unix

package mirror

import "os"

// holdCloneLock only marks the clone where flock is not available: a
// crashed clone is then recognised by its age alone.
func holdCloneLock(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	_ = f.Close()
	return func() { _ = os.Remove(path) }, nil
}

func cloneLockOwner(string) lockOwner { return ownerUnknown }
