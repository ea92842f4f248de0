package syncer

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the sync's Prometheus series. Labels stay bounded: the
// integration id, GitLab's status code and the resource; never a project.
type metrics struct {
	requests        *prometheus.CounterVec
	rateLimitWaits  *prometheus.CounterVec
	rateLimitWaited *prometheus.CounterVec
	items           *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labsync_gitlab_requests_total",
			Help: "Requests the sync made to GitLab, by integration id and HTTP status code (\"error\" when no answer came).",
		}, []string{"integration", "status"}),
		rateLimitWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labsync_gitlab_rate_limit_waits_total",
			Help: "Times a sync request waited before it could start: the rate limit window's budget was spent, or GitLab asked to wait (Retry-After) or failed repeatedly; by integration id.",
		}, []string{"integration"}),
		rateLimitWaited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labsync_gitlab_rate_limit_wait_seconds_total",
			Help: "Seconds sync requests spent in those waits, by integration id.",
		}, []string{"integration"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "labsync_sync_items_total",
			Help: "Items (merge requests, issues, pipelines, pushes, commits) the sync fetched from GitLab pages, by integration id and resource.",
		}, []string{"integration", "resource"}),
	}
}

// RegisterMetrics adds the sync's metrics to reg.
func (s *Service) RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{s.metrics.requests, s.metrics.rateLimitWaits, s.metrics.rateLimitWaited, s.metrics.items} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) request(integrationID int64, status int) {
	label := "error"
	if status > 0 {
		label = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(strconv.FormatInt(integrationID, 10), label).Inc()
}

func (m *metrics) rateLimited(integrationID int64, d time.Duration) {
	id := strconv.FormatInt(integrationID, 10)
	m.rateLimitWaits.WithLabelValues(id).Inc()
	m.rateLimitWaited.WithLabelValues(id).Add(d.Seconds())
}

func (m *metrics) fetched(integrationID int64, resource string, n int) {
	m.items.WithLabelValues(strconv.FormatInt(integrationID, 10), resource).Add(float64(n))
}
