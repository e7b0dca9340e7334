metadata name = 'cspflow'
metadata description = 'cspflow on Azure Functions Flex Consumption: storage, identity, Key Vault, monitoring. Deployed by `azd up`.'

targetScope = 'subscription'

// Parameters //

@description('Required. Name of the azd environment; every resource name derives from it.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Required. Azure region for every resource (a region that offers Flex Consumption).')
param location string

@description('Optional. Object id of the deploying user; granted data roles so they can run against the cloud resources.')
param principalId string = ''

@description('Optional. Partner Center application (client) id used by cspflow.')
param partnerCenterClientId string = ''

@description('Optional. Partner Center tenant id (the partner tenant).')
param partnerCenterTenantId string = ''

@description('Optional. Where Azure Communication Services keeps notice data at rest (a geography).')
param emailDataLocation string = 'Europe'

@description('Optional. Maximum Flex Consumption instances.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

// Variables //

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
// Durable task hub names allow letters and digits only.
var taskHubName = 'cspflow${resourceToken}'

// Resources //

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourceGroup}${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  scope: rg
  name: 'identity'
  params: {
    name: '${abbrs.managedIdentity}${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  scope: rg
  name: 'monitoring'
  params: {
    logAnalyticsName: '${abbrs.logAnalytics}${resourceToken}'
    appInsightsName: '${abbrs.appInsights}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  scope: rg
  name: 'storage'
  params: {
    name: '${abbrs.storageAccount}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: 'app-package-${resourceToken}'
  }
}

module keyVault 'modules/keyvault.bicep' = {
  scope: rg
  name: 'keyvault'
  params: {
    name: '${abbrs.keyVault}${resourceToken}'
    location: location
    tags: tags
  }
}

module email 'modules/email.bicep' = {
  scope: rg
  name: 'email'
  params: {
    communicationServiceName: '${abbrs.communicationService}${resourceToken}'
    emailServiceName: '${abbrs.emailService}${resourceToken}'
    dataLocation: emailDataLocation
    tags: tags
  }
}

module rbac 'modules/rbac.bicep' = {
  scope: rg
  name: 'rbac'
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    communicationServiceName: email.outputs.name
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  scope: rg
  name: 'functionapp'
  params: {
    planName: '${abbrs.appServicePlan}${resourceToken}'
    appName: '${abbrs.functionApp}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultUri: keyVault.outputs.uri
    taskHubName: taskHubName
    maximumInstanceCount: maximumInstanceCount
    partnerCenterClientId: partnerCenterClientId
    partnerCenterTenantId: partnerCenterTenantId
    acsEndpoint: email.outputs.endpoint
    mailFrom: email.outputs.senderAddress
  }
  dependsOn: [rbac]
}

// Outputs //

@description('The resource group everything was deployed to.')
output AZURE_RESOURCE_GROUP string = rg.name

@description('The Function app name (azd deploys the code here).')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('The Function app default URL.')
output SERVICE_API_URI string = functionApp.outputs.uri

@description('The address notices are sent from (Azure-managed domain).')
output MAIL_FROM string = email.outputs.senderAddress

@description('Key Vault URI; set the secrets named in README.md here.')
output AZURE_KEY_VAULT_URI string = keyVault.outputs.uri

@description('Application Insights connection string (not a secret: ingestion requires Entra auth).')
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
