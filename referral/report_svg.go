package referral

import (
	"fmt"
	"html"
	"html/template"
	"strings"
)

// Charts are inline SVG drawn here, so that the reports page needs no
// JavaScript and no image requests. Each bar carries a <title> (shown on
// hover) and the chart an aria-label; the same figures are in the table
// under each chart for screen readers and for copying.

// Bar is one bar of a chart.
type Bar struct {
	Label string
	Value int
}

// Chart sizes, in SVG user units (the SVG scales to its container).
const (
	chartW      = 720
	chartH      = 220
	chartLeft   = 44 // room for the axis labels
	chartBottom = 36 // room for the bar labels
	chartTop    = 12
)

// BarChart draws vertical bars (referrals by week, for instance), labelling
// at most about 12 bars so the labels never overlap.
func BarChart(title string, bars []Bar) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		chartW, chartH, html.EscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(title))
	top := 0
	for _, bar := range bars {
		top = max(top, bar.Value)
	}
	top = niceCeil(top)
	plotH := float64(chartH - chartBottom - chartTop)
	plotW := float64(chartW - chartLeft - 4)
	base := float64(chartH - chartBottom)
	// Axis: zero, half and top, with light grid lines.
	for _, v := range []int{0, top / 2, top} {
		y := base - plotH*float64(v)/float64(top)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ccc" stroke-width="1"/>`, chartLeft, y, chartW-4, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#333">%d</text>`, chartLeft-6, y+4, v)
	}
	if len(bars) > 0 {
		slot := plotW / float64(len(bars))
		every := (len(bars) + 11) / 12
		for i, bar := range bars {
			h := plotH * float64(bar.Value) / float64(top)
			x := float64(chartLeft) + slot*float64(i) + slot*0.15
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#1f5f8b"><title>%s: %d</title></rect>`,
				x, base-h, slot*0.7, h, html.EscapeString(bar.Label), bar.Value)
			if i%every == 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#333">%s</text>`,
					x+slot*0.35, chartH-chartBottom+16, html.EscapeString(bar.Label))
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text above is escaped
}

// FunnelChart draws the funnel as horizontal bars of percentages, each
// with the study's figure beside it when there is one.
func FunnelChart(title string, f Funnel) template.HTML {
	type row struct {
		label string
		rate  float64
		n     int
		study float64 // < 0: none
	}
	rows := []row{
		{"Followed up (of referred)", f.FollowedUpRate(), f.FollowedUp, -1},
		{"Reached the provider", f.ReachedRate(), f.Reached, StudyReached},
		{"Got help", f.GotHelpRate(), f.GotHelp, StudyGotHelp},
	}
	const rowH, labelW, w = 44, 190, chartW
	h := rowH*len(rows) + 28
	barW := float64(w - labelW - 70)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		w, h, html.EscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(title))
	for i, r := range rows {
		y := float64(i*rowH + 6)
		fmt.Fprintf(&b, `<text x="0" y="%.1f" font-size="12" fill="#333">%s</text>`, y+14, html.EscapeString(r.label))
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%.1f" height="16" fill="#1f5f8b"><title>%s: %s%% (%d)</title></rect>`,
			labelW, y+2, barW*r.rate, html.EscapeString(r.label), pct(r.rate), r.n)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="12" fill="#333">%s%%</text>`, float64(labelW)+barW*r.rate+6, y+15, pct(r.rate))
		if r.study >= 0 {
			fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%.1f" height="10" fill="#b8b8b8"><title>Study figure: %s%%</title></rect>`,
				labelW, y+21, barW*r.study, pct(r.study))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#555">study %s%%</text>`, float64(labelW)+barW*r.study+6, y+30, pct(r.study))
		}
	}
	fmt.Fprintf(&b, `<text x="0" y="%d" font-size="11" fill="#555">Grey: %s, the study&#39;s figure, not ours.</text>`, h-4, html.EscapeString(StudyName))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 1), so
// the axis reads in round numbers.
func niceCeil(n int) int {
	if n <= 1 {
		return 1
	}
	p := 1
	for p*10 < n {
		p *= 10
	}
	for _, m := range []int{1, 2, 5, 10} {
		if m*p >= n {
			return m * p
		}
	}
	return 10 * p
}

// WeekBars turns weekly counts into bars labelled with the week's Monday
// (Jan 5).
func (rep *Report) WeekBars(weeks []WeekCount) []Bar {
	bars := make([]Bar, len(weeks))
	for i, w := range weeks {
		bars[i] = Bar{Label: w.Start.In(rep.Zone).Format("Jan 2"), Value: w.N}
	}
	return bars
}
