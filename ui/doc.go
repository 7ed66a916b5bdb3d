// Package ui holds cxrview's Fyne widgets and windows; it calls package app
// for everything that is not drawing or input.
package ui
