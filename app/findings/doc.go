// Package findings labels chest radiograph report text for the 14 CheXpert
// observations and scores generated reports against reference reports or
// labels the way the CXR-LLaVA paper did (per-finding precision, recall and
// F1 over definite labels, bootstrap confidence intervals).
//
// The labeler is a rule-based approximation of the CheXpert labeler written
// for this project: phrase lists find mentions, then pre-negation
// uncertainty, negation and post-negation uncertainty rules decide each
// mention's status over token windows instead of a dependency parse. It is
// not the CheXpert labeler; docs/evaluation.md states where they differ.
package findings
