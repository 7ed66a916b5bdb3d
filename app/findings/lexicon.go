package findings

// The phrase lists below are this project's own, written to follow the
// behaviour of the CheXpert labeler (mention phrases per observation,
// "unmention" phrases that cancel an overlapping mention, and three rule
// stages per mention). Where they differ on purpose, docs/evaluation.md
// says so.

// otherFinding is an internal pseudo-observation: abnormalities outside the
// 14 classes (emphysema, scoliosis, granuloma...). When positive or
// uncertain they rule out No Finding, as in the CheXpert labeler.
const otherFinding = Observation(NumObservations)

type mentionFlags uint8

const (
	// neutral mentions name an organ, not an abnormality ("heart size",
	// "mediastinal contours"): "stable" or "unchanged" without an
	// abnormal word makes them uncertain.
	fNeutral mentionFlags = 1 << iota
	// fUncertain mentions are always uncertain unless negated
	// ("vascular congestion" for edema).
	fUncertain
	// fCHF mentions ("chf", "heart failure") also make Cardiomegaly
	// uncertain when they are positive or uncertain.
	fCHF
)

type mentionDef struct {
	obs   Observation
	flags mentionFlags
}

type phraseList struct {
	obs     Observation
	flags   mentionFlags
	phrases []string
}

var mentionLists = []phraseList{
	{EnlargedCardiomediastinum, fNeutral, []string{
		"mediastinum", "cardiomediastinum",
		"cardiomediastinal silhouette*|contour*|shadow*|size|structures|configuration|width|outline*",
		"cardiomediastinal",
		"mediastinal silhouette*|contour*|configuration|width|shadow*|outline*|structures",
		"pericardial silhouette",
		"hilar and? mediastinal contour*|silhouette*",
		"mediastinal", // "mediastinal and hilar contours"; see unmentions
	}},
	{EnlargedCardiomediastinum, 0, []string{
		"mediastinal widening|enlargement|prominence",
		"widened|widening|enlarged|prominent mediastinum|mediastinal|cardiomediastinum|cardiomediastinal",
		"widening|enlargement of the? mediastinum|cardiomediastinum",
	}},
	{Cardiomegaly, fNeutral, []string{
		"heart", "heart size|shadow|contour*", "cardiac size|silhouette*|shadow|contour*|outline|diameter",
		"size of the? heart", "size of the? cardiac silhouette", "cardiothoracic ratio",
		"cardiac and mediastinal silhouette*|contour*", "cardiopericardial silhouette",
	}},
	{Cardiomegaly, 0, []string{
		"cardiomegaly", "cardiac enlargement", "enlarged heart|cardiac", "enlargement of the? heart",
		"enlargement of the? cardiac silhouette",
		"megalocardia",
	}},
	{LungLesion, 0, []string{
		"mass", "masses", "nodule*", "nodular opacit*|density|densities|opacification|lesion*",
		"lump", "cavitary lesion*|mass*", "cavitation", "carcinoma*", "neoplasm*", "tumor*", "tumour*",
		"malignan*", "lung|pulmonary lesion*", "pulmonary metasta*", "lung cancer", "bronchogenic",
	}},
	{LungOpacity, 0, []string{
		"opacit*", "opacification*", "opacified", "opacifying", "infiltrat*",
		"airspace disease|process|opacit*|opacification", "air space disease|process",
		"haziness", "hazy", "ground glass", "increased density|densities|attenuation",
		"density", "densities",
		"interstitial marking*|pattern|opacit*|abnormalit*|disease|prominence|thickening",
		"interstitial lung disease", "reticular|reticulonodular pattern|marking*|opacit*|changes",
		"reticulation", "shadowing",
	}},
	{Edema, 0, []string{
		"edema", "oedema", "fluid overload", "kerley",
	}},
	{Edema, fCHF, []string{
		"chf", "heart failure",
	}},
	{Edema, fUncertain, []string{
		"vascular congestion|engorgement|prominence|redistribution", "pulmonary|venous congestion",
		"congestion", "indistinctness", "prominent pulmonary? vasculature|vessels|vascularity",
		"prominence of the? pulmonary? vasculature|vessels|vascularity",
	}},
	{Consolidation, 0, []string{"consolidat*"}},
	{Pneumonia, 0, []string{
		"pneumonia*", "bronchopneumonia", "pneumonic", "infection*", "infectious", "infected",
	}},
	{Atelectasis, 0, []string{"atelecta*", "collapse*"}},
	{Pneumothorax, 0, []string{"pneumothora*", "hydropneumothora*", "ptx"}},
	{PleuralEffusion, 0, []string{
		"pleural? effusion*", "pleural fluid", "hydrothorax", "hydropneumothora*", "hemothorax", "haemothorax",
	}},
	{PleuralOther, 0, []string{
		"pleural thickening|scar*|plaque*|calcification*|fibrosis|reaction",
		"pleural and? parenchymal scar*", "pleuroparenchymal scar*|thickening", "pleuro parenchymal scar*",
		"calcified pleural plaque*", "thickening of the? pleura", "fibrothorax",
		"apical pleural cap*", "apical cap*",
	}},
	{Fracture, 0, []string{"fracture*", "fx", "fractured"}},
	{SupportDevices, 0, []string{
		"tube", "tubes", "catheter*", "line", "lines", "picc", "port", "portacath", "port a cath", "mediport",
		"pacemaker*", "pacer*", "pacing wire*|lead*", "icd", "aicd", "defibrillator*", "device*",
		"hardware", "prosthetic valve*", "valve replacement*|prosthesis", "stent*", "wire*", "drain", "drains",
		"cannula*", "coil*", "electrode*", "leads", "endotracheal", "ett", "nasogastric", "orogastric",
		"enteric", "dobhoff", "swan ganz", "iabp", "balloon pump", "lvad", "impella", "ecmo", "sheath",
		"shunt", "tracheostomy", "monitoring|support apparatus",
	}},
	{otherFinding, 0, []string{
		"emphysema*", "copd", "hyperinflat*", "hyperexpan*", "overinflat*", "scoliosis", "kyphosis",
		"kyphoscoliosis", "degenerative", "degeneration", "spondylosis", "osteophyt*", "calcifi*",
		"granuloma*", "hernia*", "eventration", "elevation", "elevated", "blunting", "blunted",
		"bronchiectasis", "bronchitis", "bronchiolitis", "airways|airway disease", "cuffing",
		"thickening", "cephalization", "aspiration", "bulla*", "bleb*", "contusion*", "atheroscler*",
		"osteopenia", "demineraliz*", "metasta*", "pneumomediastinum", "pneumoperitoneum", "free air",
		"subcutaneous air|gas", "osteodystrophy", "lucency", "lucencies", "thoracentesis", "bronchospasm",
		"asthma", "fibrosis", "fibrotic", "volume loss", "deformity", "deformities", "hemorrhage",
		"hematoma", "radiopaque", "foreign body", "arthropathy", "hypertension", "prominen*",
		"lymphadenopathy", "adenopathy", "hilar enlargement", "cyst*", "lesion*", "empyema", "abscess",
		"scar", "scars", "scarring", "pericardial effusion*", "soft tissue edema", "subcutaneous edema", "chest wall edema", "anasarca",
	}},
}

// unmentionLists cancel a mention of the same observation that they
// overlap: positions over the heart are not statements about heart size,
// "pericardial effusion" is not a pleural effusion.
var unmentionLists = []phraseList{
	{EnlargedCardiomediastinum, 0, []string{
		"over|overlying|overlies|overlie|projecting|projects|within|into|in|at|to the? superior|upper|mid|lower? mediastinum",
		"over|overlying|projecting|projects over the? mediastinal",
		"mediastinal drain*|tube*|clip*|air|emphysema|shift|lymph*|node*|adenopathy|lymphadenopathy|lipomatosis|fat|mass*|wires",
	}},
	{Cardiomegaly, 0, []string{
		"heart failure|rate|valve*|border*",
		"over|overlying|overlies|overlie|behind|projecting|projects|through|across the? heart",
		"within|in|at|into the heart",
		"over|overlying|overlies|behind|projecting|projects|within|through the? cardiac silhouette*|shadow|contour*",
		"left|right cardiac|heart border*|contour*",
	}},
	{LungLesion, 0, []string{"mass effect", "soft tissue mass*", "body mass", "muscle mass"}},
	{LungOpacity, 0, []string{
		"pleural scar*", "pleural and? parenchymal scar*", "pleuroparenchymal scar*", "pleuro parenchymal scar*",
		"nodular opacit*|density|densities|opacification", "bone density|densities", "surgical scar*",
		"skin|soft tissue opacit*|density", "density of the? bones",
	}},
	{Edema, 0, []string{
		"soft tissue edema", "subcutaneous edema", "chest wall edema", "wall edema", "nasal congestion",
	}},
	{PleuralEffusion, 0, []string{"pericardial|joint effusion*"}},
	{Atelectasis, 0, []string{"vertebral|vertebra|compression collapse*", "collapse of the? vertebra*"}},
	{SupportDevices, 0, []string{
		"pleural|fissure|skin|fold|paratracheal|paraspinal|azygoesophageal|septal|midclavicular|junction|stripe line*",
		"kerley b? line*", "line of", "in line", "skin fold line*",
		"bronchial tube*",
	}},
	{otherFinding, 0, []string{
		"mediastinal contour* prominen*", "prominen* of the? mediastinum|cardiac|heart",
		"pleural thickening", "interstitial thickening", "prominent pulmonary? vasculature|vessels|vascularity",
		"prominence of the? pulmonary? vasculature|vessels|vascularity", "vascular prominence",
		"thickening of the? pleura",
	}},
}

// noFindingCues point a positive No Finding at a sentence for the user to
// see; they do not decide the label, which follows only from the absence of
// positive or uncertain findings.
var noFindingCues = []string{
	"no acute|active|significant cardiopulmonary|intrathoracic|thoracic|chest|pulmonary process|abnormality|abnormalities|disease|findings|finding|pathology",
	"no acute|active|significant process|abnormality|abnormalities|disease|findings|finding",
	"normal chest|study|examination|exam|radiograph*|film", "normal chest x ray",
	"lungs are? clear", "no abnormality", "no abnormalities", "within normal limits", "unremarkable",
}

type trigKind uint8

const (
	kPreUnc   trigKind = iota + 1 // uncertainty that outranks negation ("cannot exclude")
	kNeg                          // negation
	kPostUnc                      // uncertainty checked after negation ("may", "possible")
	kStable                       // "stable", "unchanged": uncertainty for neutral mentions
	kAbnormal                     // an abnormal word that keeps a neutral mention positive
	kSuppress                     // "no change": the "no" here does not negate
)

type dir uint8

const (
	fwd  dir = 1 << iota // applies to mentions after the trigger
	bwd                  // applies to mentions before the trigger
	both = fwd | bwd
)

type trigDef struct {
	kind trigKind
	dir  dir
	// sizeOnly triggers speak of size ("not enlarged", "not increased"):
	// they negate only neutral mentions, the organs whose size is the
	// finding. "The pneumothorax is not increased" keeps a pneumothorax.
	sizeOnly bool
}

type trigList struct {
	kind     trigKind
	dir      dir
	sizeOnly bool
	patterns []string
}

var triggerLists = []trigList{
	// Pre-negation uncertainty: double negatives and "no new", which would
	// otherwise read as negations.
	{kPreUnc, both, false, []string{
		"cannot|can't|cant ~3 exclude*|exclusion",
		"not ~2 exclude*",
		"difficult|hard|impossible to exclude|exclusion|assess|evaluate",
		"cannot|can't|cant ~3 rule*|ruled out",
		"not ~2 rule*|ruled out",
		"cannot|can't|cant|not be? assessed|evaluated|determined|characterized",
		"not well|clearly|optimally|adequately|fully|reliably seen|visualized|visualised|evaluated|assessed|demonstrated|delineated",
		"no evidence to rule out",
	}},
	{kPreUnc, fwd, false, []string{"no new", "without new", "no newly"}},
	// Negation.
	{kNeg, fwd, false, []string{
		"no", "not", "without", "nor", "neither", "negative for", "free of", "clear of", "clearing of",
		"absence of", "absent", "resolution of", "resolved", "removal of", "removed", "history of",
		"rule|rules|ruled out", "r/o", "exclude", "to exclude", "rather than", "instead of",
		"normal", "unremarkable", "no evidence of", "no sign|signs of", "disappearance of", "nonvisualization of",
	}},
	{kNeg, bwd, false, []string{
		"not ~2 seen|identified|present|visualized|visualised|demonstrated|evident|noted|detected|apparent|visible|appreciated|recognized",
		"no longer", "resolved", "cleared", "clear", "removed", "absent", "gone", "normal", "unremarkable",
		"ruled out", "excluded", "negative", "has|have resolved",
	}},
	{kNeg, bwd, true, []string{"not ~2 enlarged|widened|increased|dilated"}},
	// "no change", "no increase": the finding is still there.
	{kSuppress, fwd, false, []string{
		"no|without|not significant|significantly|substantial|substantially|appreciable|appreciably|interval|major|marked|much|further|definite|overall|real? significant|significantly|substantial|appreciable|interval|appreciably? change*|changed|increase*|increasing|decrease*|decreasing|worsen*|progression|improv*|difference|differences",
	}},
	// "in normal position" speaks of where a device is, not of its
	// absence: no negation overlapping it counts, in either direction.
	{kSuppress, both, false, []string{
		"normal|standard|satisfactory|appropriate|expected|acceptable|adequate|good|usual|anatomic|anatomical position|positioning|location|placement",
	}},
	// Post-negation uncertainty.
	{kPostUnc, fwd, false, []string{
		"possible", "possibly", "probable", "probably", "questionable", "question of", "questioned", "QMARK",
		"suspect*", "suspicion", "suspicious", "concern for|of", "concerning for", "worrisome for", "may", "might", "could",
		"would", "can be", "maybe", "perhaps", "suggest*", "differential", "versus", "vs", "presum*",
		"equivocal", "indeterminate", "borderline", "less likely", "unlikely", "not likely",
		"correlate ~2 for", "correlation ~1 for", "likely than", "consider*", "secondary to", "possibility", "uncertain", "obscuring|obscures",
		"cannot be excluded", "raising the question", "atypical for",
	}},
	{kPostUnc, bwd, false, []string{
		"suspected", "questioned", "possible", "questionable", "QMARK", "versus", "vs", "borderline",
		"equivocal", "indeterminate", "not excluded", "obscured", "a consideration", "a concern",
		"is|are|be considered", "poorly|incompletely|suboptimally evaluated|assessed|visualized|visualised|seen",
		"less well evaluated|assessed|visualized|visualised|seen",
		"may|might|could|can be? present|seen|noted|identified|visible|evident|developing|there|suspected|considered",
		"unlikely", "less likely", "difficult to assess|evaluate|exclude", "not well seen",
	}},
	// Stability words for neutral mentions ("heart size is stable").
	{kStable, both, false, []string{
		"stable", "unchanged", "similar", "not ~1 changed", "no ~2 change", "without ~2 change",
		"grossly stable", "overall stable", "constant",
	}},
	{kAbnormal, both, false, []string{
		"enlarg*", "widen*", "cardiomegaly", "prominen*", "increased", "large", "mild*", "moderate*",
		"sever*", "marked*", "massive*", "dilat*", "globular", "big",
	}},
}

// lexicon is the compiled form of the lists above. It is built once and
// never modified.
type lexicon struct {
	mentions   index[mentionDef]
	unmentions [NumObservations + 1]index[struct{}]
	triggers   index[trigDef]
	nfCues     index[struct{}]
}

var lex = buildLexicon()

func buildLexicon() *lexicon {
	l := &lexicon{}
	for _, pl := range mentionLists {
		for _, p := range pl.phrases {
			l.mentions.add(compile(p), mentionDef{pl.obs, pl.flags})
		}
	}
	for _, pl := range unmentionLists {
		for _, p := range pl.phrases {
			l.unmentions[pl.obs].add(compile(p), struct{}{})
		}
	}
	for _, tl := range triggerLists {
		for _, p := range tl.patterns {
			l.triggers.add(compile(p), trigDef{tl.kind, tl.dir, tl.sizeOnly})
		}
	}
	for _, p := range noFindingCues {
		l.nfCues.add(compile(p), struct{}{})
	}
	return l
}
