use observa::observed;

#[observed(skip(passwd))]
fn f(password: String) {
    let _ = password;
}

fn main() {}
