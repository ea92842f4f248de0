// Command labsync connects GitLab instances and keeps their merge requests,
// issues, pipelines and pushes in its own database. All behaviour lives in
// internal/cli; this file only hands over to it.
package main

import (
	"os"

	"github.com/labsync/labsync/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
