package web

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// chart is one series to draw: a bar per point, nil for a point without a
// value (drawn as a gap, with a tick on the axis so the gap is seen).
type chart struct {
	// ID makes the SVG's title and desc ids unique in the page.
	ID    string
	Title string
	// Labels name the points (bucket starts); the axis shows a few.
	Labels []string
	Values []*float64
	// Axis turns the largest value into the scale the axis is drawn in:
	// a divisor and the unit's name ("hours", "%", "deployments").
	Axis func(max float64) (div float64, unit string)
	// Whole draws the grid at whole numbers only (counts).
	Whole bool
}

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartW, chartH                         = 640, 240
	padLeft, padRight, padTop, padBottom   = 56, 12, 28, 40
	plotW                                  = chartW - padLeft - padRight
	plotH                                  = chartH - padTop - padBottom
	barColor, gridColor, axisColor, noData = "#1d4ed8", "#d1d5db", "#4d5560", "#b91c1c"
)

// svgChart draws c as an inline SVG bar chart: a pure function of c, so
// the same series always gives the same bytes. The picture is a summary
// for sighted users (role img, with a title and a description naming the
// highest point); the page's table beside it holds every number.
func svgChart(c chart) template.HTML {
	var maxV float64
	n, have := len(c.Values), 0
	for _, v := range c.Values {
		if v != nil {
			have++
			maxV = math.Max(maxV, *v)
		}
	}
	div, unit := 1.0, ""
	if c.Axis != nil {
		div, unit = c.Axis(maxV)
	}
	top, step := niceScale(maxV / div)
	if c.Whole && step < 1 {
		top, step = math.Max(1, math.Ceil(maxV/div)), 1
	}
	id := template.HTMLEscapeString(c.ID)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="%s-t %s-d" xmlns="http://www.w3.org/2000/svg">`,
		chartW, chartH, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, id, template.HTMLEscapeString(c.Title))
	fmt.Fprintf(&b, `<desc id="%s-d">%s</desc>`, id, template.HTMLEscapeString(describe(c, have, div, unit)))
	// Unit above the axis, then the grid lines and their values.
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="%s">%s</text>`, 4, padTop-12, axisColor, template.HTMLEscapeString(unit))
	for v := 0.0; v <= top+step/2; v += step {
		y := padTop + plotH - v/top*plotH
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%s" y2="%s" stroke="%s" stroke-width="1"/>`, padLeft, chartW-padRight, f1(y), f1(y), gridColor)
		fmt.Fprintf(&b, `<text x="%d" y="%s" font-size="12" text-anchor="end" fill="%s">%s</text>`, padLeft-6, f1(y+4), axisColor, tick(v))
	}
	if n > 0 {
		slot := float64(plotW) / float64(n)
		barW := math.Max(1, slot*0.7)
		for i, v := range c.Values {
			x := padLeft + float64(i)*slot + (slot-barW)/2
			if v == nil {
				// No value: a short red mark on the axis, not a zero bar.
				fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>`,
					f1(x), f1(x+barW), padTop+plotH+3, padTop+plotH+3, noData)
				continue
			}
			h := *v / div / top * plotH
			if *v > 0 && h < 1 {
				h = 1 // a small value stays visible
			}
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, f1(x), f1(padTop+plotH-h), f1(barW), f1(h), barColor)
		}
		// At most eight labels, evenly spread from the first.
		every := int(math.Ceil(float64(n) / 8))
		for i := 0; i < n && i < len(c.Labels); i += every {
			x := padLeft + (float64(i)+0.5)*slot
			fmt.Fprintf(&b, `<text x="%s" y="%d" font-size="12" text-anchor="middle" fill="%s">%s</text>`,
				f1(x), chartH-padBottom+18, axisColor, template.HTMLEscapeString(c.Labels[i]))
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="1"/>`, padLeft, chartW-padRight, padTop+plotH, padTop+plotH, axisColor)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// describe says in a sentence what the chart shows, for screen readers.
func describe(c chart, have int, div float64, unit string) string {
	if have == 0 {
		return fmt.Sprintf("No values in %d points.", len(c.Values))
	}
	hi := -1
	for i, v := range c.Values {
		if v != nil && (hi < 0 || *v > *c.Values[hi]) {
			hi = i
		}
	}
	label := ""
	if hi < len(c.Labels) {
		label = c.Labels[hi]
	}
	return fmt.Sprintf("%d of %d points have a value; the highest is %s %s (%s). The table beside the chart lists every point.",
		have, len(c.Values), tick(*c.Values[hi]/div), unit, label)
}

// niceScale returns the axis top and the grid step for values up to max:
// a step of 1, 2 or 5 times a power of ten, about four steps in all.
func niceScale(max float64) (top, step float64) {
	if max <= 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		return 1, 0.25
	}
	raw := max / 4
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	switch m := raw / pow; {
	case m <= 1:
		step = pow
	case m <= 2:
		step = 2 * pow
	case m <= 5:
		step = 5 * pow
	default:
		step = 10 * pow
	}
	return math.Ceil(max/step-1e-9) * step, step
}

// tick prints an axis value without trailing zeros.
func tick(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// durationAxis picks minutes, hours or days for durations in seconds.
func durationAxis(max float64) (float64, string) {
	switch {
	case max >= 2*86400:
		return 86400, "days"
	case max >= 2*3600:
		return 3600, "hours"
	default:
		return 60, "minutes"
	}
}

// ratioAxis shows ratios as percentages.
func ratioAxis(float64) (float64, string) { return 0.01, "%" }

// countAxis shows counts as they are.
func countAxis(float64) (float64, string) { return 1, "deployments" }
