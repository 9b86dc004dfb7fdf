use observa::observed;

#[observed(tenant)]
fn f(org: String) {
    let _ = org;
}

fn main() {}
