from amazon_ups.common import forms as common_forms


class SignupForm(common_forms.SignUpForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields[
            "email"
        ].help_text = "We write to it when a package is out for delivery and when it arrives."
