package ui

// Imported first (by import path) so that Fyne starts quietly under the
// C.UTF-8 locale; see the package's comment.
import _ "cxrview/ui/internal/cleanlocale"
