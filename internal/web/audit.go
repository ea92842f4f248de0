package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labsync/labsync/internal/store"
)

// auditPageSize is how many entries one page of the audit log shows.
const auditPageSize = 50

// auditView is what templates/audit.html shows: the organisation's audit
// log, newest first, a page at a time (Before is the cursor).
type auditView struct {
	Entries []auditRow
	NextURL string
	Paged   bool
	Error   string
}

// auditRow is an entry with its actor named: the member's address when the
// actor is a member of this organisation, else what the log recorded.
type auditRow struct {
	store.AuditEntry
	Who string
}

// PageTitle is the page's title.
func (auditView) PageTitle() string { return "Audit log" }

// auditPage shows the caller's organisation's audit log: the entries
// before ?before= (an entry id), newest first. Details are what the
// services wrote there, which never holds a secret.
func (u *UI) auditPage(w http.ResponseWriter, r *http.Request) error {
	var v auditView
	var before int64
	if s := strings.TrimSpace(r.URL.Query().Get("before")); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			v.Error = "The page link is not valid; this is the newest page."
		} else {
			before, v.Paged = n, true
		}
	}
	// One more than a page tells whether a next page exists.
	es, err := u.st.AuditLog(r.Context(), sessionFrom(r.Context()).OrgID, before, auditPageSize+1)
	if err != nil {
		return err
	}
	if len(es) > auditPageSize {
		es = es[:auditPageSize]
		v.NextURL = "/audit?before=" + itoa(es[len(es)-1].ID)
	}
	ms, err := u.Accounts.Members(r.Context(), sessionFrom(r.Context()).Principal())
	if err != nil {
		return err
	}
	emails := map[int64]string{}
	for _, m := range ms {
		emails[m.UserID] = m.Email
	}
	for _, e := range es {
		row := auditRow{AuditEntry: e, Who: e.Actor}
		if e.ActorUserID != nil {
			if em, ok := emails[*e.ActorUserID]; ok {
				row.Who = em
			} else {
				row.Who = e.Actor + " " + itoa(*e.ActorUserID) + " (no longer a member)"
			}
		}
		v.Entries = append(v.Entries, row)
	}
	u.render(w, r, http.StatusOK, "audit", v)
	return nil
}
