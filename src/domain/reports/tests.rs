use super::*;

#[test]
fn formulas_are_neutralised_and_plain_text_is_kept() {
    assert_eq!(
        csv_cell("=HYPERLINK(\"http://x\")"),
        "'=HYPERLINK(\"http://x\")"
    );
    for risky in ["+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
        assert!(csv_cell(risky).starts_with('\''), "{risky}");
    }
    assert_eq!(csv_cell("Ada Lovelace"), "Ada Lovelace");
    assert_eq!(csv_cell("Zoë, \"the\" 1st"), "Zoë, \"the\" 1st");
    assert_eq!(csv_cell(""), "");
}
