"""Hospital interoperability: DICOM SR (TID 1500) and SEG results, and DICOMweb in and out.

- :mod:`.coding`: SNOMED CT and project codes for findings, regions and statuses;
- :mod:`.secondary_capture`: a DICOM image of the decoded radiograph when the results may not
  (or cannot) reference the source DICOM;
- :mod:`.evidence`: which image the results reference, and with which patient/study;
- :mod:`.sr` and :mod:`.seg`: the Comprehensive 3D SR and the binary SEG of one case;
- :mod:`.case_writer`: ``sr.dcm``, ``seg.dcm`` (and ``sc.dcm``) beside ``report.json``;
- :mod:`.dicomweb`: DICOMweb inputs (WADO-RS, QIDO-RS) and STOW-RS storage.

highdicom and dicomweb-client are imported lazily (``pip install 'explainmyxray[dicomweb]'``).
"""
