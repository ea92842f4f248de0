package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/store"
)

// TestBrowserNarrowAndAccessible opens the main screens in Chromium at a
// phone's width (390×844) and checks what a user of a phone, a keyboard or
// a screen reader would notice: no page scrolls sideways, every control
// has a label and every button and link a name, Tab walks the sign-in and
// install forms in order with a visible focus ring, and text is readable
// (WCAG contrast 4.5:1, focus ring 3:1). It saves narrow-<screen>.png.
func TestBrowserNarrowAndAccessible(t *testing.T) {
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)

	f := newFixture(t, accounts.Options{})
	seedNarrowData(t, f)
	base := f.srv.URL
	integ := strconv.FormatInt(f.integA, 10)

	bctx := startChromium(t, ctx, chromium, 390, 844)
	shot := newShots(t)
	const short = 30 * time.Second
	step(t, bctx, "phone viewport", short, chromedp.EmulateViewport(390, 844))

	screens := []struct {
		name, path, ready string
		before            func()
	}{
		{name: "signin", path: "/signin", ready: "#email"},
		{name: "connectors", path: "/connectors", ready: "#install-gitlab", before: func() {
			step(t, bctx, "sign in", short,
				chromedp.SendKeys("#email", "owner@a.test", chromedp.ByID),
				chromedp.SendKeys("#password", ownerPassword, chromedp.ByID),
				chromedp.Click("#signin", chromedp.ByID),
				chromedp.WaitVisible("#install-gitlab", chromedp.ByID))
		}},
		{name: "install", path: "/connect?hosting=self-managed", ready: "#connect-form"},
		{name: "picker", path: "/integrations/" + integ + "/projects", ready: "#picker-form"},
		{name: "integration", path: "/integrations/" + integ, ready: "#sync"},
		{name: "data", path: "/data/merge_requests", ready: "#data-table"},
	}
	for _, s := range screens {
		if s.before != nil {
			s.before()
		}
		step(t, bctx, s.name, short, chromedp.Navigate(base+s.path), chromedp.WaitVisible(s.ready, chromedp.ByQuery))
		shot.save(bctx, "narrow-"+s.name+".png")

		var problems []string
		step(t, bctx, s.name+": checks", short, chromedp.Evaluate(a11yChecksJS, &problems))
		for _, p := range problems {
			t.Errorf("%s: %s", s.name, p)
		}
		switch s.name {
		case "signin":
			tabWalk(t, bctx, s.name, "email", "password", "signin")
		case "install":
			tabWalk(t, bctx, s.name, "hosting-self", "base_url", "ca_pem", "ca_file", "method-oauth", "redirect_uri",
				"client_id", "client_secret", "alias", "allow_hooks", "test-connection", "continue-oauth")
		}
	}
}

// tabWalk puts focus on the page's first focusable element (the skip
// link) and presses Tab until the last of want is focused. want (ids, or
// names for controls without one) must be reached in that order, and every
// element Tab reaches must show a focus ring.
func tabWalk(t *testing.T, ctx context.Context, screen string, want ...string) {
	t.Helper()
	var first string
	step(t, ctx, screen+": focus the top", 10*time.Second, chromedp.Evaluate(`(function(){
		var f = document.querySelector("a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex='-1'])");
		f.focus(); return f.className || f.id;
	})()`, &first))
	if first != "skip" {
		t.Errorf("%s: the first focusable element is %q, not the skip link", screen, first)
	}
	var got []string
	for i := 0; i < 60 && (len(got) == 0 || got[len(got)-1] != want[len(want)-1]); i++ {
		var r struct {
			Key     string `json:"key"`
			Visible bool   `json:"visible"`
			Why     string `json:"why"`
		}
		step(t, ctx, screen+": Tab", 10*time.Second, chromedp.KeyEvent("\t"), chromedp.Evaluate(focusStateJS, &r))
		got = append(got, r.Key)
		if !r.Visible {
			t.Errorf("%s: Tab %d reaches %s without a visible focus ring: %s", screen, i+1, r.Key, r.Why)
		}
	}
	i := 0
	for _, k := range got {
		if i < len(want) && k == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("%s: Tab order %v does not reach %q after %v", screen, got, want[i], want[:i])
	}
}

// save writes a screenshot under exactly name in the artifact directory.
func (s *shots) save(ctx context.Context, name string) {
	s.t.Helper()
	var buf []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&buf, 100)); err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(s.dir, name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("screenshot: %s", path)
}

// seedNarrowData gives organisation A's integration what makes pages
// wide: long group and project paths, every badge, a sync in progress and
// merge requests with long titles.
func seedNarrowData(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	seedPicker(t, f.st, f.org, f.integA, 120, 12)
	long := "platform-engineering-and-developer-experience/continuous-integration-infrastructure"
	parent := int64(1000)
	groups, err := f.st.Groups(ctx, f.org, f.integA)
	if err != nil {
		t.Fatal(err)
	}
	groups = append(groups, store.Group{GitLabID: 5000, ParentGitLabID: &parent, FullPath: "group-000/" + long,
		Name: "continuous-integration-infrastructure-and-release-tooling", Visibility: "private"})
	if err := f.st.ReplaceGroups(ctx, f.org, f.integA, groups); err != nil {
		t.Fatal(err)
	}
	ns := "group-000/" + long
	ps := []store.Project{
		{GitLabID: 90001, NamespacePath: ns, Name: "kubernetes-runner-autoscaler-configuration-templates", ObjectFormat: "sha256"},
		{GitLabID: 90002, NamespacePath: ns, Name: "AAA-legacy-deployment-scripts-that-nobody-dares-to-delete", Archived: true},
	}
	for i := range ps {
		ps[i].PathWithNamespace = ns + "/" + ps[i].Name
		ps[i].WebURL = "https://gitlab.a.test/" + ps[i].PathWithNamespace
	}
	if err := f.st.UpsertDiscoveredProjects(ctx, f.org, f.integA, ps); err != nil {
		t.Fatal(err)
	}
	all, err := f.st.AllProjects(ctx, f.org, f.integA)
	if err != nil {
		t.Fatal(err)
	}
	var ids, selected []int64
	for _, p := range all {
		ids = append(ids, p.ID)
		if p.GitLabID == 90001 || p.GitLabID < 100005 { // 100002.. are selected through a group
			selected = append(selected, p.ID)
		}
	}
	if err := f.st.SetSelectedProjects(ctx, f.org, f.integA, selected); err != nil {
		t.Fatal(err)
	}
	if err := f.st.EnsureProgress(ctx, f.org, f.integA, ids[:10], []string{"merge_requests", "issues", "pipelines", "pushes"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var mrs []store.MergeRequest
	for i := range 3 {
		mrs = append(mrs, store.MergeRequest{ProjectGitLabID: 90001, GitLabID: int64(7000 + i), IID: int64(i + 1),
			Title: fmt.Sprintf("Draft: replace the runner autoscaler's configuration templates with generated ones (part %d of 3)", i+1),
			State: "opened", Author: "someone.with.a.rather.long.username", SourceBranch: "feature/" + strings.Repeat("x", 60),
			TargetBranch: "main", WebURL: fmt.Sprintf("https://gitlab.a.test/%s/-/merge_requests/%d", ps[0].PathWithNamespace, i+1),
			CreatedAt: &now, UpdatedAt: now})
	}
	if _, err := f.st.UpsertMergeRequests(ctx, nil, f.org, f.integA, store.SourceSync, mrs); err != nil {
		t.Fatal(err)
	}
}

// focusStateJS describes the focused element: its id (or name, or text)
// and whether a focus ring shows, i.e. an outline or box-shadow that
// contrasts 3:1 with what is behind it (WCAG 1.4.11).
const focusStateJS = contrastJS + `(function(){
	var el = document.activeElement;
	if (!el || el === document.body) return {key: "body", visible: false, why: "focus left the page"};
	var key = el.id || el.getAttribute("name") || (el.className ? "." + el.className.split(" ")[0] : "") || el.textContent.trim().slice(0, 30);
	var cs = getComputedStyle(el);
	var out = cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) >= 1;
	var shadow = cs.boxShadow && cs.boxShadow !== "none";
	if (!out && !shadow) return {key: key, visible: false, why: "no outline or box-shadow"};
	if (out) {
		var bg = background(el.parentElement || el);
		var r = ratio(parse(cs.outlineColor, bg), bg);
		if (r < 3) return {key: key, visible: false, why: "outline " + cs.outlineColor + " contrasts " + r.toFixed(2) + ":1 with its background"};
	}
	return {key: key, visible: true, why: ""};
})()`

// contrastJS is the WCAG 2 relative luminance and contrast ratio.
const contrastJS = `
function parse(c, under) {
	var m = c.match(/rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/);
	if (!m) return [255, 255, 255];
	var rgb = [+m[1], +m[2], +m[3]], a = m[4] === undefined ? 1 : +m[4];
	if (a >= 1 || !under) return rgb;
	return rgb.map(function (v, i) { return v * a + under[i] * (1 - a); });
}
function alpha(c) { var m = c.match(/rgba\([^)]*,\s*([\d.]+)\)/); return m ? +m[1] : (c === "transparent" ? 0 : 1); }
function background(el) {
	var layers = [];
	for (var e = el; e && e.nodeType === 1; e = e.parentElement) {
		var b = getComputedStyle(e).backgroundColor;
		if (alpha(b) > 0) { layers.push(b); if (alpha(b) >= 1) break; }
	}
	var c = [255, 255, 255];
	for (var i = layers.length - 1; i >= 0; i--) c = parse(layers[i], c);
	return c;
}
function lum(c) {
	var v = c.map(function (x) { x /= 255; return x <= 0.04045 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
	return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
}
function ratio(a, b) { var x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }
`

// a11yChecksJS returns the page's problems: sideways scrolling, controls
// without a label, buttons and links without a name, and text whose
// contrast with its background is below 4.5:1.
const a11yChecksJS = contrastJS + `(function(){
	var out = [];
	function desc(el) {
		var s = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
		return s + " «" + (el.textContent || el.value || "").trim().replace(/\s+/g, " ").slice(0, 40) + "»";
	}
	function shown(el) { return el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden"; }

	// clientWidth leaves out a vertical scrollbar: stricter than innerWidth.
	var w = Math.min(window.innerWidth, document.documentElement.clientWidth);
	if (document.documentElement.scrollWidth > w) {
		var wide = [];
		document.querySelectorAll("body *").forEach(function (el) {
			if (!shown(el) || el.getBoundingClientRect().right <= w + 0.5) return;
			for (var p = el.parentElement; p; p = p.parentElement) {
				var ox = getComputedStyle(p).overflowX;
				if (ox === "auto" || ox === "scroll" || ox === "hidden") return;
			}
			if (!el.parentElement || el.parentElement.getBoundingClientRect().right <= w + 0.5) wide.push(desc(el) + " ends at " + Math.round(el.getBoundingClientRect().right) + "px");
		});
		out.push("the page scrolls sideways: " + document.documentElement.scrollWidth + "px wide in a " + w + "px wide view; too wide: " + wide.slice(0, 8).join("; "));
	}

	document.querySelectorAll("input, select, textarea").forEach(function (el) {
		if (el.type === "hidden") return;
		var named = Array.prototype.some.call(el.labels || [], function (l) { return l.textContent.trim() !== ""; }) ||
			(el.getAttribute("aria-label") || "").trim() !== "" || !!el.getAttribute("aria-labelledby");
		if (!named) out.push("control without a label: " + el.outerHTML.slice(0, 120));
	});
	document.querySelectorAll("a[href], button, [role=button], summary").forEach(function (el) {
		var n = (el.getAttribute("aria-label") || el.textContent || el.getAttribute("title") || "").trim();
		if (!n) { var img = el.querySelector("img[alt]"); if (img) n = img.alt.trim(); }
		if (!n) out.push("button or link without a name: " + el.outerHTML.slice(0, 120));
	});

	var seen = 0, low = {};
	document.querySelectorAll("body *").forEach(function (el) {
		if (!shown(el) || el.closest(".sr-only") || el.closest(".skip") || el.disabled) return;
		var own = Array.prototype.some.call(el.childNodes, function (n) { return n.nodeType === 3 && n.textContent.trim() !== ""; });
		var input = /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName) && el.type !== "checkbox" && el.type !== "radio" && el.type !== "file";
		if (!own && !input) return;
		seen++;
		var bg = background(el), fg = parse(getComputedStyle(el).color, bg), r = ratio(fg, bg);
		var k = el.tagName + el.className + getComputedStyle(el).color + bg.join();
		if (r < 4.5 && !low[k]) low[k] = out.push("text contrast " + r.toFixed(2) + ":1 (" + getComputedStyle(el).color + " on rgb(" + bg.map(Math.round).join(", ") + ")): " + desc(el));
	});
	if (seen < 5) out.push("only " + seen + " text elements checked for contrast");
	return out;
})()`
