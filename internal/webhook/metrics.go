package webhook

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector reports, at scrape time and from the database (so every
// replica agrees), the inbox backlog and each integration's webhook health.
type collector struct {
	s                            *Service
	depth, lag, health, lastSeen *prometheus.Desc
}

func newCollector(s *Service) *collector {
	return &collector{s: s,
		depth: prometheus.NewDesc("labsync_webhook_inbox_pending", "Deliveries stored and not yet processed.", nil, nil),
		lag:   prometheus.NewDesc("labsync_webhook_inbox_lag_seconds", "Age of the oldest unprocessed delivery (0 when none).", nil, nil),
		health: prometheus.NewDesc("labsync_webhook_health", "1 for the integration's current webhook state (never_received, healthy, quiet).",
			[]string{"integration_id", "state"}, nil),
		lastSeen: prometheus.NewDesc("labsync_webhook_seconds_since_last_delivery", "Seconds since the integration's last delivery.",
			[]string{"integration_id"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.lag
	ch <- c.health
	ch <- c.lastSeen
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	now := c.s.opts.Now()
	if n, oldest, err := c.s.st.InboxBacklog(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n))
		lag := 0.0
		if oldest != nil {
			lag = now.Sub(*oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag)
	}
	ins, err := c.s.st.AllIntegrations(ctx, "")
	if err != nil {
		return
	}
	for _, in := range ins {
		if in.Status == "disconnected" {
			continue
		}
		id := strconv.FormatInt(in.ID, 10)
		h := c.s.HealthOf(in.WebhookLastReceivedAt)
		for _, st := range []string{"never_received", "healthy", "quiet"} {
			v := 0.0
			if st == h.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.health, prometheus.GaugeValue, v, id, st)
		}
		if in.WebhookLastReceivedAt != nil {
			ch <- prometheus.MustNewConstMetric(c.lastSeen, prometheus.GaugeValue, now.Sub(*in.WebhookLastReceivedAt).Seconds(), id)
		}
	}
}
