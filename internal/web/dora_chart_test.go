package web

import (
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"
)

func fp(v float64) *float64 { return &v }

// svgElements parses an SVG and returns its elements' names and
// attributes, failing the test when it is not well-formed XML.
func svgElements(t *testing.T, svg string) (names []string, attrs []map[string]string, text []string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed XML: %v\n%s", err, svg)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			m := map[string]string{}
			for _, a := range e.Attr {
				m[a.Name.Local] = a.Value
			}
			names, attrs = append(names, e.Name.Local), append(attrs, m)
		case xml.CharData:
			if s := strings.TrimSpace(string(e)); s != "" {
				text = append(text, s)
			}
		}
	}
}

func TestSVGChartDrawsOneBarPerValueWithHeightsInProportion(t *testing.T) {
	// Values 4, 2, none, 1: the axis tops at 4 (steps of 1), so the bars
	// are the plot's full height, a half and a quarter of it; the missing
	// point is a red mark, not a bar.
	svg := string(svgChart(chart{ID: "df", Title: "Deployment frequency", Labels: []string{"03-02", "03-09", "03-16", "03-23"},
		Values: []*float64{fp(4), fp(2), nil, fp(1)}, Axis: countAxis}))
	names, attrs, text := svgElements(t, svg)
	var heights []float64
	marks := 0
	for i, n := range names {
		switch {
		case n == "rect":
			h, _ := strconv.ParseFloat(attrs[i]["height"], 64)
			heights = append(heights, h)
		case n == "line" && attrs[i]["stroke"] == noData:
			marks++
		}
	}
	want := []float64{plotH, plotH / 2, plotH / 4}
	if len(heights) != len(want) {
		t.Fatalf("bars = %v, want %d bars", heights, len(want))
	}
	for i := range want {
		if heights[i] != want[i] {
			t.Errorf("bar %d height = %v, want %v", i, heights[i], want[i])
		}
	}
	if marks != 1 {
		t.Errorf("missing-value marks = %d, want 1", marks)
	}
	joined := strings.Join(text, "|")
	for _, s := range []string{"Deployment frequency", "the highest is 4 deployments (03-02)", "03-23"} {
		if !strings.Contains(joined, s) {
			t.Errorf("the chart's text lacks %q: %s", s, joined)
		}
	}
	if names[0] != "svg" || attrs[0]["role"] != "img" || attrs[0]["aria-labelledby"] != "df-t df-d" {
		t.Errorf("the chart is not an labelled image: %v", attrs[0])
	}
}

func TestSVGChartEscapesItsTextAndDrawsAnEmptySeries(t *testing.T) {
	svg := string(svgChart(chart{ID: `x"><script>`, Title: `<script>alert(1)</script>`, Labels: []string{"a&b"},
		Values: []*float64{nil}, Axis: durationAxis}))
	if strings.Contains(svg, "<script>") {
		t.Fatalf("the chart carries markup from its input: %s", svg)
	}
	names, _, text := svgElements(t, svg)
	for _, n := range names {
		if n == "rect" {
			t.Error("an empty series has a bar")
		}
	}
	if !strings.Contains(strings.Join(text, "|"), "No values in 1 points.") {
		t.Errorf("the description of an empty chart = %v", text)
	}
}

// TestSVGChartOfCountsHasGridLinesAtWholeNumbersOnly: one deployment at
// most draws the grid at 0 and 1, not at quarters.
func TestSVGChartOfCountsHasGridLinesAtWholeNumbersOnly(t *testing.T) {
	for _, c := range []struct {
		name  string
		whole bool
		want  []string
	}{{"counts", true, []string{"0", "1"}}, {"any numbers", false, []string{"0", "0.5", "1"}}} {
		t.Run(c.name, func(t *testing.T) {
			svg := string(svgChart(chart{ID: "x", Values: []*float64{fp(1), fp(0)}, Axis: countAxis, Whole: c.whole}))
			svgElements(t, svg) // well-formed
			// The grid's values are the texts anchored at their end.
			var ticks []string
			for _, part := range strings.Split(svg, `text-anchor="end"`)[1:] {
				ticks = append(ticks, part[strings.Index(part, ">")+1:strings.Index(part, "<")])
			}
			if strings.Join(ticks, " ") != strings.Join(c.want, " ") {
				t.Errorf("ticks = %v, want %v", ticks, c.want)
			}
		})
	}
}

func TestNiceScaleRoundsTheAxisUpToOneTwoOrFiveSteps(t *testing.T) {
	cases := []struct {
		name           string
		max, top, step float64
	}{
		{"nothing", 0, 1, 0.25},
		{"four", 4, 4, 1},
		{"seven", 7, 8, 2},
		{"thirteen", 13, 15, 5},
		{"a ratio", 0.3, 0.3, 0.1},
		{"just over a step", 0.31, 0.4, 0.1},
		{"hundreds", 380, 400, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			top, step := niceScale(c.max)
			if !near(top, c.top) || !near(step, c.step) {
				t.Errorf("niceScale(%v) = %v, %v; want %v, %v", c.max, top, step, c.top, c.step)
			}
		})
	}
}

// near compares floats: steps such as 0.1 are not exact.
func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
