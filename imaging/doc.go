// Package imaging opens chest radiographs (DICOM, PNG, JPEG), renders them
// through the DICOM display pipeline, and prepares the model's input image.
// It is pure Go and knows nothing of windows or widgets.
package imaging
