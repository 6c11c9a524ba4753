"""Who is calling: the directory that issues access tokens, its principals, and the caller a
request carries (an administrator's static token, or a principal's JWT)."""
