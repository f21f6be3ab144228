"""Words of single sign-on (OpenID Connect)."""

ENGLISH: dict[str, str] = {
    "oidc_sign_in_with": "Sign in with {provider}",
    "oidc_or": "or with your username and password",
    "oidc_error_not_configured": "Single sign-on is not set up on this server.",
    "oidc_error_state": (
        "That sign-in link has expired or was not started in this browser. Please try again."
    ),
    "oidc_error_provider": (
        "The sign-in service could not be reached. Please try again later, or sign in with"
        " your password."
    ),
    "oidc_error_denied": "The sign-in service did not sign you in.",
    "oidc_error_token": "The sign-in service's answer could not be verified. Please try again.",
    "oidc_error_no_email": (
        "The sign-in service did not share your e-mail address, so your account cannot be found."
    ),
    "oidc_error_unverified_email": (
        "Your e-mail address is not verified at the sign-in service. Verify it there first."
    ),
    "oidc_error_unknown_user": (
        "No account here uses your e-mail address. Ask an administrator to add you."
    ),
    "oidc_error_disabled": "Your account is disabled. Ask an administrator.",
    "oidc_error_subject_mismatch": (
        "Your e-mail address belongs to a different account at the sign-in service than before."
        " Ask an administrator."
    ),
}

CHINESE: dict[str, str] = {
    "oidc_sign_in_with": "使用 {provider} 登录",
    "oidc_or": "或使用用户名和密码登录",
    "oidc_error_not_configured": "本服务器未设置单点登录。",
    "oidc_error_state": "该登录链接已过期，或不是在此浏览器中发起的。请重试。",
    "oidc_error_provider": "无法连接登录服务。请稍后重试，或使用密码登录。",
    "oidc_error_denied": "登录服务未让您登录。",
    "oidc_error_token": "无法验证登录服务的答复。请重试。",
    "oidc_error_no_email": "登录服务未提供您的电子邮件地址，因此找不到您的账户。",
    "oidc_error_unverified_email": "您的电子邮件地址在登录服务中尚未验证。请先在那里验证。",
    "oidc_error_unknown_user": "这里没有使用您电子邮件地址的账户。请联系管理员添加您。",
    "oidc_error_disabled": "您的账户已被停用。请联系管理员。",
    "oidc_error_subject_mismatch": (
        "您的电子邮件地址现在属于登录服务中的另一个账户，与之前不同。请联系管理员。"
    ),
}
