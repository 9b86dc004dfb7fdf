use observa::observed;

struct Receipt;

#[observed(ret)]
fn f() -> Receipt {
    Receipt
}

fn main() {}
