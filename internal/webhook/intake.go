package webhook

import (
	"context"
	"database/sql"
	"errors"

	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/store"
)

// errNotInline ends an intake transaction whose processing turned out
// other than planned (a row skipped, a payload without a row): the batch
// is stored again as received and the processor takes those deliveries.
var errNotInline = errors.New("webhook: delivery not processed at intake")

// intake stores a batch of received deliveries and, in the same
// transaction, processes the ones it can: those the receiver parsed whose
// service is on and whose project is known and selected are stored as
// processed with their rows and change-feed entries; those a switched-off
// service or an unknown or unselected project makes ignored are stored as
// ignored, with the reason. A delivery becomes durable, deduplicated and
// processed in one trip through the writer, and is acknowledged after it.
//
// Everything else is stored pending for the processor, as is the whole
// batch when the inbox lock is held elsewhere (another replica's processor
// or intake on PostgreSQL) or when processing does not go as planned: the
// batch is then written again without processing, so a failure to process
// never costs a delivery its acknowledgement. Duplicates write no rows.
//
// evs[i] is ds[i]'s parsed payload, nil when the receiver did not parse it.
// intake returns what became of each delivery, how many were left pending,
// and the push deliveries it processed (for OnPush once committed).
func (p *Processor) intake(ctx context.Context, ds []store.Delivery, evs []ingest.Hook) (res []store.InsertResult, left int, pushes []store.Delivery, err error) {
	now := p.st.Now()
	planned := make([]store.Delivery, len(ds))
	copy(planned, ds)
	plans := make([]plan, len(ds))
	write := make([]bool, len(ds))
	c := newBatchCache()
	for i := range planned {
		d := &planned[i]
		if d.Status != "" && d.Status != "pending" || evs[i] == nil && ingest.Reads(d.EventKind) {
			continue // decided at receipt, or not parsed: the processor parses it
		}
		pl := p.planOne(ctx, c, *d, evs[i])
		switch {
		case pl.err != nil:
			continue // a read failed: the processor plans it again
		case pl.status != "":
			d.Status, d.Error, d.ProcessedAt = pl.status, pl.why, &now
		default:
			d.Status, d.ProcessedAt = "processed", &now
			write[i] = true
		}
		plans[i] = pl
	}
	err = p.st.InTx(ctx, func(tx *sql.Tx) error {
		if err := p.st.LockInbox(ctx, tx); err != nil {
			return err
		}
		var err error
		if res, err = p.st.InsertDeliveriesTx(ctx, tx, planned); err != nil {
			return err
		}
		todo := make([]plan, 0, len(plans))
		for i, r := range res {
			if r == store.Inserted && write[i] {
				todo = append(todo, plans[i])
			}
		}
		if len(todo) == 0 {
			return nil
		}
		differs := false
		w := p.rowWriter(tx, func(_ store.Delivery, status, _ string) {
			if status != "processed" {
				differs = true
			}
		})
		if err := w.writeAll(ctx, todo); err != nil {
			return err
		}
		if differs {
			return errNotInline
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, store.ErrBusy) && !errors.Is(err, errNotInline) {
			p.log.Warn("webhook: processing at intake failed; the deliveries are stored for the processor", "deliveries", len(ds), "err", err)
		}
		res, err = p.st.InsertDeliveries(ctx, ds)
		if err != nil {
			return nil, 0, nil, err
		}
		for i, r := range res {
			if r == store.Inserted && (ds[i].Status == "" || ds[i].Status == "pending") {
				left++
			}
		}
		return res, left, nil, nil
	}
	for i, r := range res {
		if r != store.Inserted {
			continue
		}
		switch d := planned[i]; {
		case d.Status == "pending":
			left++
		case d.EventKind == "push" || d.EventKind == "tag_push":
			pushes = append(pushes, d)
		}
	}
	return res, left, pushes, nil
}
