metadata description = 'The Flex Consumption plan and the cspflow Function app (Python 3.11), identity-based connections throughout.'

@description('Required. Plan name.')
param planName string
@description('Required. Function app name.')
param appName string
@description('Required. Region.')
param location string
@description('Optional. Tags.')
param tags object = {}
@description('Required. Resource id of the user-assigned identity.')
param identityId string
@description('Required. Client id of the user-assigned identity.')
param identityClientId string
@description('Required. Storage account for the host, task hub, queues and tables.')
param storageAccountName string
@description('Required. Blob container URL for the deployment package.')
param deploymentContainerUrl string
@description('Required. Application Insights connection string.')
param appInsightsConnectionString string
@description('Required. Key Vault URI for secret references.')
param keyVaultUri string
@description('Required. Durable task hub name (letters and digits).')
param taskHubName string
@description('Optional. Maximum instance count.')
param maximumInstanceCount int = 40
@description('Optional. Partner Center application id.')
param partnerCenterClientId string = ''
@description('Optional. Partner Center tenant id.')
param partnerCenterTenantId string = ''
@description('Required. Azure Communication Services endpoint notices are sent through.')
param acsEndpoint string
@description('Required. The sender address of the verified email domain.')
param mailFrom string

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

// Secrets live in Key Vault; the app settings hold only references, resolved with the UAMI.
var secretRef = '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/'

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: { name: 'python', version: '3.11' }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: {
      AzureWebJobsStorage__accountName: storageAccountName
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      TASKHUB_NAME: taskHubName
      CSPFLOW_ENVIRONMENT: 'azure'
      CSPFLOW_PARTNER_CENTER_CLIENT_ID: partnerCenterClientId
      CSPFLOW_PARTNER_CENTER_TENANT_ID: partnerCenterTenantId
      CSPFLOW_PARTNER_CENTER_CLIENT_SECRET: '${secretRef}partner-center-client-secret)'
      // App+user calls (MCA attestation) mint tokens from the Secure Application Model
      // refresh token; Microsoft asks for it to be kept in a vault (Microsoft Learn,
      // https://learn.microsoft.com/en-us/partner-center/developer/enable-secure-app-model).
      CSPFLOW_PARTNER_CENTER_REFRESH_TOKEN: '${secretRef}partner-center-refresh-token)'
      CSPFLOW_STRIPE_API_KEY: '${secretRef}stripe-api-key)'
      CSPFLOW_STRIPE_WEBHOOK_SECRETS: '${secretRef}stripe-webhook-secrets)'
      // Notices: Azure Communication Services Email with the same managed identity
      // (AzureWebJobsStorage__clientId names it); no key, no connection string.
      CSPFLOW_MAIL_TRANSPORT: 'acs'
      CSPFLOW_ACS_ENDPOINT: acsEndpoint
      CSPFLOW_MAIL_FROM: mailFrom
      // The nightly book sync (docs/book.md, "Sync"): NCRONTAB in UTC, or 'off'. Read when
      // the app is indexed: a change restarts the app, as every app setting change does.
      CSPFLOW_BOOK_SYNC_SCHEDULE: '0 0 2 * * *'
      // Renewals (docs/renewals.md): the daily sweep (NCRONTAB in UTC, or 'off') and the key
      // that signs the decision links mailed to customers (any long random string).
      CSPFLOW_RENEWAL_SWEEP_SCHEDULE: '0 0 5 * * *'
      CSPFLOW_LINK_SIGNING_KEY: '${secretRef}link-signing-key)'
      // The monthly card-expiry sweep (docs/dunning.md): NCRONTAB in UTC, or 'off'.
      CSPFLOW_DUNNING_CARD_EXPIRY_SCHEDULE: '0 0 6 1 * *'
      // The billing run (docs/billing.md): the timer looks hourly whether a billing day has
      // begun in the partner's time zone; set the partner's country and time zone here.
      CSPFLOW_BILLING_SCHEDULE: '0 5 * * * *'
      CSPFLOW_PARTNER_COUNTRY: 'US'
      CSPFLOW_PARTNER_TIME_ZONE: 'UTC'
      // Reconciliation: last month, once Microsoft's invoice is out; and the leakage that
      // raises an ops alert, per currency (docs/rules.md#leakage-alert).
      CSPFLOW_RECONCILIATION_SCHEDULE: '0 0 6 10 * *'
      CSPFLOW_LEAKAGE_ALERT: 'USD=50.00,EUR=50.00'
    }
  }
}

@description('Function app name.')
output name string = app.name
@description('Function app URL.')
output uri string = 'https://${app.properties.defaultHostName}'
