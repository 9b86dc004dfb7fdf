use observa::observed;

struct LoginForm {
    email: String,
}

#[observed(fields(form))]
fn login(form: LoginForm) -> String {
    form.email
}

fn main() {}
