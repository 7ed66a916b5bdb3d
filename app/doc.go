// Package app is cxrview's domain: studies, drafts, autosave, the audit trail,
// exports, settings and the command-line interface. It never imports Fyne.
package app
