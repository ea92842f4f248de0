package ingest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Time is a time as GitLab writes it, kept as sent and read by Parse: API
// items and merge request and issue payloads carry ISO 8601
// ("2013-12-03T17:23:34Z", "2013-12-03T17:23:34.123+01:00"), pipeline
// payloads and some older ones "2016-08-12 15:23:28 UTC".
type Time string

// UnmarshalJSON reads a string or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*t = Time(s)
	return nil
}

// timeLayouts are the forms GitLab has written times in, across versions.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700",
	"2006-01-02T15:04:05.000-07:00", "2006-01-02 15:04:05"}

// Parse returns the time in UTC, nil for an empty one, or an error naming
// the text when it is in no form GitLab uses.
func (t Time) Parse() (*time.Time, error) {
	s := strings.TrimSpace(string(t))
	if s == "" {
		return nil, nil
	}
	for _, layout := range timeLayouts {
		if v, err := time.Parse(layout, s); err == nil {
			v = v.UTC()
			return &v, nil
		}
	}
	return nil, fmt.Errorf("unrecognised time %q", shorten(s, 40))
}

func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// user is a user as API items and payloads show one; only the username is
// kept.
type user struct {
	ID       int64  `json:"id"` // payloads from 13.x (User#hook_attrs)
	Username string `json:"username"`
	Name     string `json:"name"`
}

func (u *user) name() string {
	if u == nil {
		return ""
	}
	return u.Username
}

// users reads a list of users; entries without a username are dropped.
type users []*user

func (us users) names() []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		if u != nil && u.Username != "" {
			out = append(out, u.Username)
		}
	}
	return out
}

// labels reads label names, whether GitLab sent strings (API items) or
// objects: {"name": …} in API items with with_labels_details, {"title": …}
// in payloads.
type labels []string

func (l *labels) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err == nil {
		*l = names
		return nil
	}
	var objs []*struct {
		Name  string `json:"name"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal(b, &objs); err != nil {
		return err
	}
	*l = make([]string, 0, len(objs))
	for _, o := range objs {
		if o == nil {
			continue
		}
		n := o.Title
		if n == "" {
			n = o.Name
		}
		*l = append(*l, n)
	}
	return nil
}

// list returns the names, never nil.
func (l labels) list() []string {
	if l == nil {
		return []string{}
	}
	return l
}

// idOnly reads an object's id (a payload's project).
type idOnly struct {
	ID int64 `json:"id"`
}
