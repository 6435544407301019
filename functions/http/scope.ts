/**
 * The OAuth scope every route requires: only Cognito access tokens carry it. The API Gateway
 * authorizer (through the route table) and the functions' own token check both use this one value.
 */
export const USER_SCOPE = 'aws.cognito.signin.user.admin';
