package findings

import (
	"fmt"
	"strings"
)

// Observation is one of the 14 CheXpert observations. The values follow the
// column order of CheXpert's label files.
type Observation int

// The CheXpert observations, in the order of CheXpert's label columns.
const (
	NoFinding Observation = iota
	EnlargedCardiomediastinum
	Cardiomegaly
	LungLesion
	LungOpacity
	Edema
	Consolidation
	Pneumonia
	Atelectasis
	Pneumothorax
	PleuralEffusion
	PleuralOther
	Fracture
	SupportDevices

	// NumObservations is the number of observations; Result.Findings is
	// indexed by Observation.
	NumObservations = 14
)

var observationNames = [NumObservations]string{
	"No Finding",
	"Enlarged Cardiomediastinum",
	"Cardiomegaly",
	"Lung Lesion",
	"Lung Opacity",
	"Edema",
	"Consolidation",
	"Pneumonia",
	"Atelectasis",
	"Pneumothorax",
	"Pleural Effusion",
	"Pleural Other",
	"Fracture",
	"Support Devices",
}

// String returns the observation's CheXpert column name, such as
// "Pleural Effusion".
func (o Observation) String() string {
	if o < 0 || o >= NumObservations {
		return fmt.Sprintf("Observation(%d)", int(o))
	}
	return observationNames[o]
}

// Valid reports whether o is one of the 14 observations.
func (o Observation) Valid() bool { return o >= 0 && o < NumObservations }

// MarshalText writes the CheXpert column name.
func (o Observation) MarshalText() ([]byte, error) {
	if !o.Valid() {
		return nil, fmt.Errorf("invalid observation %d", int(o))
	}
	return []byte(o.String()), nil
}

// UnmarshalText accepts what ParseObservation accepts.
func (o *Observation) UnmarshalText(b []byte) error {
	v, ok := ParseObservation(string(b))
	if !ok {
		return fmt.Errorf("unknown observation %q", b)
	}
	*o = v
	return nil
}

// ParseObservation maps a column name to its observation. Case, spaces,
// underscores and hyphens are ignored, so "Pleural Effusion",
// "pleural_effusion" and "PLEURALEFFUSION" all name the same observation.
func ParseObservation(name string) (Observation, bool) {
	key := squash(name)
	for i, n := range observationNames {
		if squash(n) == key {
			return Observation(i), true
		}
	}
	return 0, false
}

func squash(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch r {
		case ' ', '_', '-', '\t':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// All returns the 14 observations in CheXpert column order.
func All() []Observation {
	all := make([]Observation, NumObservations)
	for i := range all {
		all[i] = Observation(i)
	}
	return all
}

// Key6 returns the six findings the CXR-LLaVA paper scored on MIMIC-CXR:
// cardiomegaly, consolidation, edema, pleural effusion, pneumonia and
// pneumothorax. The report panel shows a chip for each.
func Key6() []Observation {
	return []Observation{Cardiomegaly, Consolidation, Edema, PleuralEffusion, Pneumonia, Pneumothorax}
}

// External7 returns the seven findings the paper (arXiv v3) scored on the
// external Open-i set: Key6 plus lung opacity.
func External7() []Observation {
	return []Observation{Cardiomegaly, Consolidation, Edema, LungOpacity, PleuralEffusion, Pneumonia, Pneumothorax}
}

// Status is a report's label for one observation.
type Status int8

// The four labels. The zero value is NotMentioned, so a zero Result says
// nothing about any observation.
const (
	NotMentioned Status = iota
	Negative
	Uncertain
	Positive
)

// String returns "positive", "negative", "uncertain" or "not mentioned".
func (s Status) String() string {
	switch s {
	case NotMentioned:
		return "not mentioned"
	case Negative:
		return "negative"
	case Uncertain:
		return "uncertain"
	case Positive:
		return "positive"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Definite reports whether s is Positive or Negative: the only labels the
// paper's F1 counts.
func (s Status) Definite() bool { return s == Positive || s == Negative }

// CheXpert returns the label-file convention: "1", "0", "-1" or "" (blank
// for not mentioned).
func (s Status) CheXpert() string {
	switch s {
	case Positive:
		return "1"
	case Negative:
		return "0"
	case Uncertain:
		return "-1"
	}
	return ""
}

// ParseCheXpert reads a label-file cell: 1, 0, -1 (also as 1.0, 0.0,
// -1.0) or blank.
func ParseCheXpert(cell string) (Status, error) {
	switch strings.TrimSpace(cell) {
	case "":
		return NotMentioned, nil
	case "1", "1.0", "+1":
		return Positive, nil
	case "0", "0.0", "-0", "-0.0":
		return Negative, nil
	case "-1", "-1.0":
		return Uncertain, nil
	}
	return 0, fmt.Errorf("label %q is not 1, 0, -1 or blank", cell)
}

// MarshalText writes "positive", "negative", "uncertain" or
// "not_mentioned": identifiers that JSON consumers can switch on.
func (s Status) MarshalText() ([]byte, error) {
	if s == NotMentioned {
		return []byte("not_mentioned"), nil
	}
	if s < NotMentioned || s > Positive {
		return nil, fmt.Errorf("invalid status %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads what MarshalText writes.
func (s *Status) UnmarshalText(b []byte) error {
	switch string(b) {
	case "not_mentioned", "not mentioned", "":
		*s = NotMentioned
	case "negative":
		*s = Negative
	case "uncertain":
		*s = Uncertain
	case "positive":
		*s = Positive
	default:
		return fmt.Errorf("unknown status %q", b)
	}
	return nil
}
