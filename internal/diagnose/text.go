package diagnose

import (
	"fmt"
	"io"
	"strings"
)

// Mark returns the one-character sign of a status: ✓ pass, ✗ fail, ! warn,
// - skip.
func (s Status) Mark() string {
	switch s {
	case Pass:
		return "✓"
	case Fail:
		return "✗"
	case Warn:
		return "!"
	default:
		return "-"
	}
}

// WriteStep writes s for a terminal: the mark and title, then what was seen
// and the remedy, indented.
func WriteStep(w io.Writer, s Step) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", s.Status.Mark(), s.Title)
	if s.Kind != "" && (s.Status == Fail || s.Status == Warn) {
		fmt.Fprintf(&b, " (%s)", s.Kind)
	}
	b.WriteString("\n")
	if s.Seen != "" {
		fmt.Fprintf(&b, "    %s\n", s.Seen)
	}
	if s.Remedy != "" && s.Status != Pass {
		fmt.Fprintf(&b, "    → %s\n", s.Remedy)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Summary returns one closing line for a terminal.
func (r Report) Summary() string {
	var fails, warns int
	for _, s := range r.Steps {
		switch s.Status {
		case Fail:
			fails++
		case Warn:
			warns++
		}
	}
	switch {
	case fails > 0:
		return fmt.Sprintf("%d check(s) failed, %d warning(s).", fails, warns)
	case warns > 0:
		return fmt.Sprintf("No check failed; %d warning(s).", warns)
	}
	return "All checks passed."
}
