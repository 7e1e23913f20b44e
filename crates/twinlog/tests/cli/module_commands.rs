//! `module check | test | fmt`, and every example under `examples/modules/` run through the
//! real `twinlog module test` against its expected output.
