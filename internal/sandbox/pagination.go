package sandbox

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const (
	// maxCountLimit is Kaminari's MAX_COUNT_LIMIT: above it GitLab stops
	// counting and drops X-Total, X-Total-Pages and the "last" link.
	maxCountLimit = 10000
	// offsetLimit is the default plan's offset_pagination_limit, enforced for
	// resources that offer keyset pagination.
	offsetLimit = 50000
)

type pageReq struct{ page, perPage int }

func (c *call) pageReq() pageReq {
	pr := pageReq{page: 1, perPage: 20}
	if v, err := strconv.Atoi(c.q("page")); err == nil && v > 0 {
		pr.page = v
	}
	if v, err := strconv.Atoi(c.q("per_page")); err == nil && v > 0 {
		pr.perPage = min(v, 100)
	}
	return pr
}

// checkOffsetLimit refuses deep offset pages on resources that have keyset
// pagination, with GitLab's message naming the model.
func (c *call) checkOffsetLimit(model string) error {
	if !c.s.ver.hasKeyset() {
		return nil // no keyset pagination, no offset cap
	}
	pr := c.pageReq()
	if pr.page*pr.perPage > offsetLimit {
		return grapeErr(http.StatusMethodNotAllowed, fmt.Sprintf("Offset pagination has a maximum allowed offset of %d for requests that return objects of type %s. Remaining records can be retrieved using keyset pagination.", offsetLimit, model))
	}
	return nil
}

// pageLink is the request URL with query params replaced by set.
func (c *call) pageLink(set map[string]string) string {
	q := url.Values{}
	for k, v := range c.r.URL.Query() {
		if k == "private_token" || k == "access_token" {
			continue
		}
		q[k] = v
	}
	for k, v := range set {
		q.Set(k, v)
	}
	return c.s.baseURL + c.r.URL.Path + "?" + q.Encode()
}

// offsetPage writes GitLab's offset pagination headers for a list of total
// items and returns the bounds of the requested page.
func (c *call) offsetPage(total int) (lo, hi int) {
	pr := c.pageReq()
	lo = min((pr.page-1)*pr.perPage, total)
	hi = min(lo+pr.perPage, total)
	totalPages := max((total+pr.perPage-1)/pr.perPage, 1)
	counted := total <= maxCountLimit
	h := c.w.Header()
	per := strconv.Itoa(pr.perPage)
	h.Set("X-Per-Page", per)
	h.Set("X-Page", strconv.Itoa(pr.page))
	next, prev := "", ""
	if hi < total {
		next = strconv.Itoa(pr.page + 1)
	}
	if pr.page > 1 {
		prev = strconv.Itoa(pr.page - 1)
	}
	h.Set("X-Next-Page", next)
	h.Set("X-Prev-Page", prev)
	var links []string
	if prev != "" {
		links = append(links, fmt.Sprintf(`<%s>; rel="prev"`, c.pageLink(map[string]string{"page": prev, "per_page": per})))
	}
	if next != "" {
		links = append(links, fmt.Sprintf(`<%s>; rel="next"`, c.pageLink(map[string]string{"page": next, "per_page": per})))
	}
	links = append(links, fmt.Sprintf(`<%s>; rel="first"`, c.pageLink(map[string]string{"page": "1", "per_page": per})))
	if counted {
		links = append(links, fmt.Sprintf(`<%s>; rel="last"`, c.pageLink(map[string]string{"page": strconv.Itoa(totalPages), "per_page": per})))
		h.Set("X-Total", strconv.Itoa(total))
		h.Set("X-Total-Pages", strconv.Itoa(totalPages))
	}
	h.Set("Link", strings.Join(links, ", "))
	return lo, hi
}

// paginate renders one offset page of items.
func paginate[T any](c *call, items []T, render func(T) any) []any {
	lo, hi := c.offsetPage(len(items))
	out := make([]any, 0, hi-lo)
	for _, it := range items[lo:hi] {
		out = append(out, render(it))
	}
	return out
}
