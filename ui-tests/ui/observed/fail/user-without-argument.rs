use observa::observed;

#[observed(user)]
fn f(account: u64) {
    let _ = account;
}

fn main() {}
