package sandbox

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GraphQL: the sandbox answers the one query labsync sends, a page of a
// project's pipelines (Project.pipelines, newest first as PipelinesFinder
// orders them, with id, status, duration, startedAt, finishedAt, updatedAt
// and queuedDuration), over GET /api/graphql as GitLab does
// (config/routes/api.rb routes GET and POST to GraphqlController#execute,
// which refuses mutations sent by GET and queries over 10,000 characters).
// It is not a GraphQL engine: any other query is answered with a GraphQL
// error. GraphQL is off before 12.1 (the `graphql` feature flag was on by
// default from 12.1): the route answers 404 there. queuedDuration exists
// from 13.6 here, as the pipeline entity's queued_duration (detail.go).
// Connection cursors are opaque base64 text, like GitLab's.

type gqlError struct {
	Message string `json:"message"`
}

type gqlPipeline struct {
	ID             string   `json:"id"`
	Status         string   `json:"status"`
	Duration       *int64   `json:"duration"`
	QueuedDuration *float64 `json:"queuedDuration,omitempty"`
	StartedAt      *string  `json:"startedAt"`
	FinishedAt     *string  `json:"finishedAt"`
	CreatedAt      string   `json:"createdAt"`
	UpdatedAt      string   `json:"updatedAt"`
}

func gqlTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func gqlErrors(msgs ...string) map[string]any {
	var es []gqlError
	for _, m := range msgs {
		es = append(es, gqlError{Message: m})
	}
	return map[string]any{"errors": es}
}

func (s *Sandbox) graphql(c *call) (any, error) {
	if !s.ver.atLeast(12, 1) {
		return nil, errNoRoute
	}
	query := strings.TrimSpace(c.q("query"))
	if len(query) > 10000 {
		return nil, &apiError{status: http.StatusUnprocessableEntity, body: gqlErrors("Query too large")}
	}
	if strings.HasPrefix(query, "mutation") {
		return nil, &apiError{status: http.StatusUnprocessableEntity, body: gqlErrors("Mutations are forbidden in GET requests")}
	}
	var vars struct {
		FullPath string `json:"fullPath"`
		First    *int   `json:"first"`
		After    string `json:"after"`
	}
	if v := c.q("variables"); v != "" {
		if err := json.Unmarshal([]byte(v), &vars); err != nil {
			return gqlErrors("Variables are invalid JSON"), nil
		}
	}
	if !strings.Contains(query, "project(fullPath:") || !strings.Contains(query, "pipelines(") {
		return gqlErrors("the sandbox answers only a page of Project.pipelines"), nil
	}
	if strings.Contains(query, "queuedDuration") && !s.ver.atLeast(13, 6) {
		return gqlErrors("Field 'queuedDuration' doesn't exist on type 'Pipeline'"), nil
	}
	p := s.projectByRef(vars.FullPath)
	if p == nil || p.deleted || !canRead(p, c.user) {
		return map[string]any{"data": map[string]any{"project": nil}}, nil
	}
	first := 100
	if vars.First != nil {
		first = *vars.First
	}
	if first < 0 || first > 100 {
		return gqlErrors("first must be between 0 and 100"), nil
	}
	after := int64(0)
	if vars.After != "" {
		b, err := base64.StdEncoding.DecodeString(vars.After)
		id, perr := strconv.ParseInt(strings.TrimPrefix(string(b), "pipeline:"), 10, 64)
		if err != nil || perr != nil {
			return gqlErrors("Argument 'after' has an invalid cursor"), nil
		}
		after = id
	}
	pls := slices.Clone(p.pipelines)
	if !p.ciEnabled {
		pls = nil
	}
	slices.SortFunc(pls, func(a, b *pipeline) int { return cmp.Compare(b.id, a.id) })
	nodes := []gqlPipeline{}
	hasNext, end := false, ""
	for _, pl := range pls {
		if after != 0 && pl.id >= after {
			continue
		}
		if len(nodes) == first {
			hasNext = true
			break
		}
		n := gqlPipeline{ID: fmt.Sprintf("gid://gitlab/Ci::Pipeline/%d", pl.id), Status: strings.ToUpper(pl.status),
			StartedAt: gqlTime(pl.started), FinishedAt: gqlTime(pl.finished), CreatedAt: *gqlTime(pl.created), UpdatedAt: *gqlTime(pl.updated)}
		if !pl.started.IsZero() && !pl.finished.IsZero() {
			d := int64(pl.finished.Sub(pl.started) / time.Second)
			n.Duration = &d
		}
		if strings.Contains(query, "queuedDuration") && !pl.started.IsZero() {
			q := pl.started.Sub(pl.created).Seconds()
			n.QueuedDuration = &q
		}
		nodes = append(nodes, n)
		end = base64.StdEncoding.EncodeToString([]byte("pipeline:" + strconv.FormatInt(pl.id, 10)))
	}
	return map[string]any{"data": map[string]any{"project": map[string]any{"pipelines": map[string]any{
		"pageInfo": map[string]any{"hasNextPage": hasNext, "endCursor": end}, "nodes": nodes}}}}, nil
}
