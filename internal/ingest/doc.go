// Package ingest turns GitLab JSON into store rows: an item of an API page
// (what sync reads) or a webhook payload (what the webhook processor
// reads), so that one merge request, issue or pipeline arriving both ways
// becomes the same row by the same code.
//
// Its JSON shapes read every GitLab version labsync supports (9 to 19):
// renamed fields under both names (work_in_progress → draft in 14.0,
// merged_by → merge_user in 14.7, merge_status → detailed_merge_status in
// 15.6, both kept), label lists as names or objects, and the time forms of
// both sources (ISO 8601 / RFC 3339, and the "2016-08-12 15:23:28 UTC"
// form webhook pipelines and older payloads carry).
//
// ingest must never do I/O: no network, no database, no logging, no
// clock. It never writes to the store: a caller stores what it returns
// (and fills in what a payload does not carry, such as an author a webhook
// names only by id).
package ingest
