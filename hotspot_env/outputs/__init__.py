"""Files and words for people: exports, report, manifest, model card, PDF sheets, privacy gate."""
