//! Fuzz target: any UTF-8 text through the parser, the formatter and the diagnostic
//! renderer. Nothing may panic; and whatever parses without errors must format to text that
//! parses to the same tree and formats to itself (the `twinlog module fmt` guarantees).

#![no_main]

use libfuzzer_sys::fuzz_target;
use twinlog_lang::diag::render_all;
use twinlog_lang::fmt::format;
use twinlog_lang::parser::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let (module, diags) = parse(src);
    let out = format(&module);
    let _ = render_all(&diags, "fuzz.scc", src);
    if diags.iter().any(|d| d.is_error()) {
        return;
    }
    let (again, diags2) = parse(&out);
    assert!(
        diags2.is_empty(),
        "formatted text does not parse:\n{out}\n{diags2:?}"
    );
    assert_eq!(
        again.without_trivia(),
        module.without_trivia(),
        "formatting changed the tree:\n{out}"
    );
    assert_eq!(format(&again), out, "formatting is not idempotent");
});
