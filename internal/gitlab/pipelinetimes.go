package gitlab

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PipelineTimes is what the pipelines list of REST v4 leaves out and
// GraphQL's Project.pipelines gives a page at a time: a pipeline's
// duration, queued duration and start and finish times.
type PipelineTimes struct {
	// ID is the pipeline's numeric id (GraphQL's global id
	// gid://gitlab/Ci::Pipeline/<id> read back).
	ID              int64
	Status          string
	DurationS       *int64
	QueuedDurationS *float64
	StartedAt       *time.Time
	FinishedAt      *time.Time
	UpdatedAt       *time.Time
}

// PipelineTimesQuery is the GraphQL query of one page of a project's
// pipelines, newest first (PipelinesFinder orders by id descending), with
// the fields v has (see QueuedDurationFrom). Its variables are fullPath,
// first and after (PipelineTimesVariables).
func PipelineTimesQuery(v Version) string {
	fields := "id status duration startedAt finishedAt updatedAt"
	if v.Has(QueuedDurationFrom) {
		fields += " queuedDuration"
	}
	_ = v
	return "query($fullPath: ID!, $first: Int, $after: String) { project(fullPath: $fullPath) { pipelines(first: $first, after: $after) " +
		"{ pageInfo { hasNextPage endCursor } nodes { " + fields + " } } } }"
}

// PipelineTimesVariables encodes the variables of PipelineTimesQuery.
func PipelineTimesVariables(fullPath string, first int, after string) string {
	v := map[string]any{"fullPath": fullPath, "first": first}
	if after != "" {
		v["after"] = after
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// GraphQLError is a GraphQL answer that carries errors (GitLab answers 200
// with an "errors" list for a query it cannot run).
type GraphQLError struct {
	Messages []string
}

func (e *GraphQLError) Error() string {
	return "gitlab: GraphQL refused the query: " + strings.Join(e.Messages, "; ")
}

// ErrProjectNotInGraphQL means GraphQL answered project: null: the project
// is not visible to the credential, or its path changed.
var ErrProjectNotInGraphQL = errors.New("gitlab: GraphQL does not see the project (project is null)")

// PipelineTimesPage reads an answer of PipelineTimesQuery.
func PipelineTimesPage(body []byte) (items []PipelineTimes, hasNext bool, endCursor string, err error) {
	var a struct {
		Data *struct {
			Project *struct {
				Pipelines struct {
					PageInfo struct {
						HasNextPage bool   `json:"hasNextPage"`
						EndCursor   string `json:"endCursor"`
					} `json:"pageInfo"`
					Nodes []struct {
						ID             string     `json:"id"`
						Status         string     `json:"status"`
						Duration       *int64     `json:"duration"`
						QueuedDuration *float64   `json:"queuedDuration"`
						StartedAt      *time.Time `json:"startedAt"`
						FinishedAt     *time.Time `json:"finishedAt"`
						UpdatedAt      *time.Time `json:"updatedAt"`
					} `json:"nodes"`
				} `json:"pipelines"`
			} `json:"project"`
		} `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, false, "", fmt.Errorf("gitlab: unreadable GraphQL answer: %w", err)
	}
	if len(a.Errors) > 0 {
		ge := &GraphQLError{}
		for _, e := range a.Errors {
			ge.Messages = append(ge.Messages, e.Message)
		}
		return nil, false, "", ge
	}
	if a.Data == nil || a.Data.Project == nil {
		return nil, false, "", ErrProjectNotInGraphQL
	}
	pl := a.Data.Project.Pipelines
	for _, n := range pl.Nodes {
		id, err := GlobalID(n.ID)
		if err != nil {
			return nil, false, "", err
		}
		items = append(items, PipelineTimes{ID: id, Status: strings.ToLower(n.Status), DurationS: n.Duration,
			QueuedDurationS: n.QueuedDuration, StartedAt: n.StartedAt, FinishedAt: n.FinishedAt, UpdatedAt: n.UpdatedAt})
	}
	return items, pl.PageInfo.HasNextPage, pl.PageInfo.EndCursor, nil
}

// GlobalID reads the numeric id of a GraphQL global id
// ("gid://gitlab/Ci::Pipeline/42" → 42).
func GlobalID(gid string) (int64, error) {
	i := strings.LastIndexByte(gid, '/')
	if !strings.HasPrefix(gid, "gid://") || i < 0 {
		return 0, fmt.Errorf("gitlab: %q is not a GraphQL global id", gid)
	}
	n, err := strconv.ParseInt(gid[i+1:], 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("gitlab: %q is not a GraphQL global id", gid)
	}
	return n, nil
}
