// Package buildinfo reports the version and commit the binary was built from.
package buildinfo

import "runtime/debug"

// Version and Commit are set at link time with
// -ldflags "-X github.com/labsync/labsync/internal/buildinfo.Version=… -X …Commit=…".
var (
	Version = "dev"
	Commit  = ""
)

// CommitOrUnknown returns the commit the binary was built from: the value set
// at link time, else the VCS revision Go recorded, else "unknown".
func CommitOrUnknown() string {
	if Commit != "" {
		return Commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	return "unknown"
}
