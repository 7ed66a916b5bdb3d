package findings

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// Sample is one report pair: the labels of a generated report and of its
// reference (labels read from a label file, or the reference text
// labelled the same way as the generated one).
type Sample struct {
	ID        string
	Generated [NumObservations]Status
	Truth     [NumObservations]Status
}

// Counts tallies the pairs of one finding. Only pairs in which both labels
// are definite (positive or negative) are TP, FP, FN or TN; the others are
// counted by why they were left out.
type Counts struct {
	TP, FP, FN, TN int
	// Pairs left out: the reference label is uncertain or not mentioned,
	// or (reference definite) the generated label is.
	TruthUncertain, TruthUnmentioned int
	GenUncertain, GenUnmentioned     int
}

// add counts one pair.
func (c *Counts) add(gen, truth Status) {
	switch {
	case truth == Uncertain:
		c.TruthUncertain++
	case truth == NotMentioned:
		c.TruthUnmentioned++
	case gen == Uncertain:
		c.GenUncertain++
	case gen == NotMentioned:
		c.GenUnmentioned++
	case gen == Positive && truth == Positive:
		c.TP++
	case gen == Positive:
		c.FP++
	case truth == Positive:
		c.FN++
	default:
		c.TN++
	}
}

// N is the number of pairs counted.
func (c Counts) N() int { return c.TP + c.FP + c.FN + c.TN }

// Excluded is the number of pairs left out.
func (c Counts) Excluded() int {
	return c.TruthUncertain + c.TruthUnmentioned + c.GenUncertain + c.GenUnmentioned
}

// Precision is TP/(TP+FP); NaN when nothing was called positive.
func (c Counts) Precision() float64 { return frac(c.TP, c.TP+c.FP) }

// Recall is TP/(TP+FN); NaN when the reference has no positives.
func (c Counts) Recall() float64 { return frac(c.TP, c.TP+c.FN) }

// F1 is 2TP/(2TP+FP+FN), the harmonic mean of precision and recall; it is
// 0 when there are positives on either side but none agree, and NaN when
// neither side has a positive.
func (c Counts) F1() float64 { return frac(2*c.TP, 2*c.TP+c.FP+c.FN) }

func frac(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// Interval is a confidence interval; both ends are NaN when the metric was
// undefined in every resample.
type Interval struct {
	Lo, Hi float64
}

// Score is one finding's result.
type Score struct {
	Observation Observation
	Counts
	Precision, Recall, F1       float64 // NaN when undefined
	PrecisionCI, RecallCI, F1CI Interval
}

// Evaluation is the result of Evaluate.
type Evaluation struct {
	Findings []Score
	// Macro averages are means over the findings whose metric is defined
	// (MacroOver of them).
	MacroPrecision, MacroRecall, MacroF1       float64
	MacroPrecisionCI, MacroRecallCI, MacroF1CI Interval
	MacroOver                                  int
	Reports                                    int
	Resamples                                  int
	Seed                                       uint64
	// Used counts, per metric, the resamples in which it was defined and
	// that its interval is taken from: "f1 Pneumothorax", "macro f1"...
	Used map[string]int

	// Warning, when set, marks every output: the first line of the
	// Markdown, a column of every CSV row, the chart's title. It is how
	// scores of a TEST MODEL's output are kept from passing for results.
	Warning string
	// Notes are said under the Markdown table: what was left out of the
	// scoring and why, which model wrote the reports.
	Notes []string
}

// Options controls Evaluate.
type Options struct {
	Resamples int    // bootstrap resamples; 0 means 1,000
	Seed      uint64 // the same seed gives the same intervals
	// Progress, if set, is called with the number of resamples done.
	Progress func(done, total int)
}

// DefaultResamples is the paper's number of bootstrap iterations.
const DefaultResamples = 1000

// Evaluate scores generated labels against reference labels for the
// findings obs, the way the CXR-LLaVA paper describes its protocol: per
// finding, only reports where both labels are definite count; precision,
// recall and F1 of the positive class; their unweighted mean over the
// findings; and 95% confidence intervals by the percentile bootstrap over
// reports (resampling whole reports with replacement, so the findings of a
// resample stay paired).
func Evaluate(samples []Sample, obs []Observation, opt Options) (*Evaluation, error) {
	if len(samples) == 0 {
		return nil, errors.New("no reports to evaluate")
	}
	if len(obs) == 0 {
		return nil, errors.New("no findings to evaluate")
	}
	for _, o := range obs {
		if !o.Valid() {
			return nil, fmt.Errorf("invalid observation %d", int(o))
		}
	}
	if opt.Resamples <= 0 {
		opt.Resamples = DefaultResamples
	}
	n := len(samples)
	// codes[f][i] is the kind of pair sample i makes for finding f.
	codes := make([][]uint8, len(obs))
	e := &Evaluation{Reports: n, Resamples: opt.Resamples, Seed: opt.Seed, Used: map[string]int{}}
	for f, o := range obs {
		codes[f] = make([]uint8, n)
		var c Counts
		for i, s := range samples {
			c.add(s.Generated[o], s.Truth[o])
			codes[f][i] = pairCode(s.Generated[o], s.Truth[o])
		}
		e.Findings = append(e.Findings, Score{
			Observation: o, Counts: c,
			Precision: c.Precision(), Recall: c.Recall(), F1: c.F1(),
		})
	}
	e.MacroPrecision, _ = macro(e.Findings, func(s *Score) float64 { return s.Precision })
	e.MacroRecall, _ = macro(e.Findings, func(s *Score) float64 { return s.Recall })
	e.MacroF1, e.MacroOver = macro(e.Findings, func(s *Score) float64 { return s.F1 })

	// Bootstrap.
	rng := rand.New(rand.NewPCG(opt.Seed, 0x6378727669657721)) // "cxrview!"
	R := opt.Resamples
	prec := make([][]float64, len(obs))
	rec := make([][]float64, len(obs))
	f1 := make([][]float64, len(obs))
	var mp, mr, mf []float64
	idx := make([]int, n)
	counts := make([][5]int, len(obs))
	for r := 0; r < R; r++ {
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		for f := range obs {
			counts[f] = [5]int{}
			col := codes[f]
			for _, i := range idx {
				counts[f][col[i]]++
			}
		}
		var sp, sr, sf float64
		okp, okr, okf := true, true, true
		for f := range obs {
			c := Counts{TP: counts[f][codeTP], FP: counts[f][codeFP], FN: counts[f][codeFN], TN: counts[f][codeTN]}
			p, rc, f1v := c.Precision(), c.Recall(), c.F1()
			prec[f] = appendDefined(prec[f], p)
			rec[f] = appendDefined(rec[f], rc)
			f1[f] = appendDefined(f1[f], f1v)
			// A macro resample averages the same findings as the full
			// data; one undefined in this resample voids it.
			if !math.IsNaN(e.Findings[f].Precision) {
				sp += p
				okp = okp && !math.IsNaN(p)
			}
			if !math.IsNaN(e.Findings[f].Recall) {
				sr += rc
				okr = okr && !math.IsNaN(rc)
			}
			if !math.IsNaN(e.Findings[f].F1) {
				sf += f1v
				okf = okf && !math.IsNaN(f1v)
			}
		}
		if k := definedCount(e.Findings, func(s *Score) float64 { return s.Precision }); okp && k > 0 {
			mp = append(mp, sp/float64(k))
		}
		if k := definedCount(e.Findings, func(s *Score) float64 { return s.Recall }); okr && k > 0 {
			mr = append(mr, sr/float64(k))
		}
		if okf && e.MacroOver > 0 {
			mf = append(mf, sf/float64(e.MacroOver))
		}
		if opt.Progress != nil {
			opt.Progress(r+1, R)
		}
	}
	for f := range obs {
		s := &e.Findings[f]
		name := s.Observation.String()
		s.PrecisionCI = percentileCI(prec[f])
		s.RecallCI = percentileCI(rec[f])
		s.F1CI = percentileCI(f1[f])
		e.Used["precision "+name] = len(prec[f])
		e.Used["recall "+name] = len(rec[f])
		e.Used["f1 "+name] = len(f1[f])
	}
	e.MacroPrecisionCI = percentileCI(mp)
	e.MacroRecallCI = percentileCI(mr)
	e.MacroF1CI = percentileCI(mf)
	e.Used["macro precision"] = len(mp)
	e.Used["macro recall"] = len(mr)
	e.Used["macro f1"] = len(mf)
	return e, nil
}

const (
	codeExcluded = iota
	codeTP
	codeFP
	codeFN
	codeTN
)

func pairCode(gen, truth Status) uint8 {
	if !gen.Definite() || !truth.Definite() {
		return codeExcluded
	}
	switch {
	case gen == Positive && truth == Positive:
		return codeTP
	case gen == Positive:
		return codeFP
	case truth == Positive:
		return codeFN
	}
	return codeTN
}

func appendDefined(xs []float64, v float64) []float64 {
	if math.IsNaN(v) {
		return xs
	}
	return append(xs, v)
}

func macro(scores []Score, get func(*Score) float64) (float64, int) {
	sum, k := 0.0, 0
	for i := range scores {
		if v := get(&scores[i]); !math.IsNaN(v) {
			sum += v
			k++
		}
	}
	if k == 0 {
		return math.NaN(), 0
	}
	return sum / float64(k), k
}

func definedCount(scores []Score, get func(*Score) float64) int {
	_, k := macro(scores, get)
	return k
}

// percentileCI returns the 2.5th and 97.5th percentiles of xs.
func percentileCI(xs []float64) Interval {
	if len(xs) == 0 {
		return Interval{math.NaN(), math.NaN()}
	}
	slices.Sort(xs)
	return Interval{Percentile(xs, 0.025), Percentile(xs, 0.975)}
}

// Percentile returns the p-quantile (0 ≤ p ≤ 1) of sorted xs by linear
// interpolation between order statistics (the method numpy and R use by
// default): the value at rank p·(n−1).
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	h := p * float64(len(sorted)-1)
	lo := int(math.Floor(h))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	if lo < 0 {
		return sorted[0]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// FindingSet is a named list of findings to evaluate, with the paper's
// headline result for it when there is one.
type FindingSet struct {
	Name         string
	Observations []Observation
	Paper        *Headline
}

// Headline is a published average F1 to show beside a computed one.
type Headline struct {
	F1     float64
	Source string // what was measured, on what data
}

// FindingSets lists the sets ParseFindingSet knows.
func FindingSets() []FindingSet {
	return []FindingSet{
		{"mimic6", Key6(), &Headline{0.81, "CXR-LLaVA v2 paper, MIMIC-CXR internal test set, six findings"}},
		{"external7", External7(), &Headline{0.62, "CXR-LLaVA v2 paper (arXiv v3), Open-i external set, seven findings"}},
		{"all14", All(), nil},
	}
}

// ParseFindingSet returns the set called name: mimic6, external7 or all14.
func ParseFindingSet(name string) (FindingSet, error) {
	var names []string
	for _, s := range FindingSets() {
		if strings.EqualFold(s.Name, name) {
			return s, nil
		}
		names = append(names, s.Name)
	}
	return FindingSet{}, fmt.Errorf("unknown finding set %q (want %s)", name, strings.Join(names, ", "))
}
