//go:build unix

package mirror

import (
	"errors"
	"os"
	"syscall"
)

// holdCloneLock creates path and takes an exclusive flock on it for as long
// as a first clone runs in the directory it names. The kernel drops the lock
// when the process dies, however it dies (SIGKILL included), so [New] can
// tell a clone a crash cut short from one another replica on a shared
// volume is still making. release removes the file and drops the lock.
func holdCloneLock(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	return func() {
		_ = os.Remove(path)
		_ = f.Close()
	}, nil
}

// cloneLockOwner says whether a live process holds the lock at path:
// ownerGone when the lock could be taken (its clone was cut short),
// ownerAlive when another process holds it, ownerUnknown when there is no
// lock file or it cannot be judged.
func cloneLockOwner(path string) lockOwner {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return ownerUnknown
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return ownerGone
	case errors.Is(err, syscall.EWOULDBLOCK):
		return ownerAlive
	default:
		return ownerUnknown
	}
}
